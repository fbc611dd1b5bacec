import type { JsMsg } from "@nats-io/jetstream";
import { RawJetStream } from "./baselines/jetstream.js";
import { ack, createProducer, createSubscription, postBatch, pull, type Credential } from "./lib/certflow-api.js";
import { SCALE, isolationId } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { envelopeOf, notificationInput } from "./lib/payload.js";
import { describePhases, ledgerPhases, type PhaseTimes } from "./lib/ledger-phases.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { distribution, formatNumber, type Distribution } from "./lib/stats.js";
import { STEADY_RATE, STEADY_TICK_MS, STEADY_WARMUP_MS, runSteady } from "./lib/steady-rate.js";
import { PATH_SERVICES, startCertflow } from "./lib/system-process.js";

/** Notifications per second, on both sides (BENCH_LATENCY_RATE to try another); a batch every tick. */
const RATE = STEADY_RATE;
const PULL_MAX = 500;
const PULL_WAIT_SECONDS = 1;

interface Sent {
  at: number;
  measured: boolean;
}

/** Send times by subject (one notification per subject), and the latencies of those measured. */
class Tracker {
  private readonly sent = new Map<string, Sent>();
  readonly latencies: number[] = [];
  sentMeasured = 0;
  received = 0;

  markSent(subject: string, at: number, measured: boolean): void {
    this.sent.set(subject, { at, measured });
    if (measured) this.sentMeasured++;
  }

  markReceived(subject: string, at: number): void {
    const sent = this.sent.get(subject);
    if (!sent) return;
    this.sent.delete(subject);
    this.received++;
    if (sent.measured) this.latencies.push(at - sent.at);
  }

  /** Every notification sent so far has been received. */
  get drained(): boolean {
    return this.sent.size === 0;
  }
}

interface SteadyResult {
  /** Achieved send rate over the measured window. */
  rate: number;
  latency: Distribution;
  errors: number;
  cpu: Record<string, string>;
  phases?: PhaseTimes;
}

async function steady(
  label: string,
  prefix: string,
  durationMs: number,
  tracker: Tracker,
  send: (subjects: string[]) => Promise<void>,
  pids: Record<string, number | undefined> = {},
): Promise<SteadyResult> {
  const run = await runSteady({ label, prefix, durationMs, pids }, tracker, send);
  return { rate: run.rate, latency: distribution(tracker.latencies), errors: run.errors, cpu: run.cpu };
}

export async function latency(): Promise<Figure[]> {
  const durationMs = Math.max(2_000, Math.round(10_000 * SCALE));
  console.log(
    `latency: ${RATE} notifications/s for ${durationMs / 1000} s (+${STEADY_WARMUP_MS / 1000} s warm-up), a batch every ${STEADY_TICK_MS} ms, ` +
      `consumer pulls max=${PULL_MAX} wait=${PULL_WAIT_SECONDS} and acks`,
  );
  const certflow = await certflowLatency(durationMs);
  const raw = await rawLatency(durationMs);
  const details = {
    rate: RATE,
    seconds: durationMs / 1000,
    achievedRate: { certflow: Math.round(certflow.rate), baseline: Math.round(raw.rate) },
    samples: { certflow: certflow.latency.count, baseline: raw.latency.count },
    certflowMs: rounded(certflow.latency),
    baselineMs: rounded(raw.latency),
    sendErrors: { certflow: certflow.errors, baseline: raw.errors },
    cpuCertflow: certflow.cpu,
    cpuBaseline: raw.cpu,
    certflowStagesMs: certflow.phases,
  };
  const figures = (["p50", "p99"] as const).map((quantile) =>
    figure({
      benchmark: "latency",
      name: `accept-to-pull latency ${quantile} at ${RATE}/s`,
      unit: "ms",
      certflow: certflow.latency[quantile],
      baseline: raw.latency[quantile],
      baselineName: "raw publish-to-receive",
      better: "lower",
      details,
    }),
  );
  figures.forEach(announce);
  console.log(
    `     achieved rate: certflow ${formatNumber(certflow.rate)}/s, baseline ${formatNumber(raw.rate)}/s; ` +
      `max: certflow ${formatNumber(certflow.latency.max, 1)} ms, baseline ${formatNumber(raw.latency.max, 1)} ms`,
  );
  if (certflow.phases) console.log(`     certflow stages (from its ledger): ${describePhases(certflow.phases)}`);
  return figures;
}

const rounded = (latency: Distribution) =>
  Object.fromEntries(Object.entries(latency).map(([key, value]) => [key, key === "count" ? value : Math.round(value * 100) / 100]));

async function certflowLatency(durationMs: number): Promise<SteadyResult> {
  const system = await startCertflow({ id: isolationId("latency"), services: PATH_SERVICES, profileName: "latency" });
  const client = new HttpClient(system.url, 16);
  let consuming = true;
  try {
    const producer = await createProducer(client, "bench-producer");
    const subscription = await createSubscription(client, "bench-latency");
    const tracker = new Tracker();
    const consumer = consumeCertflow(client, subscription, tracker, () => consuming);
    const prefix = `lat-${Date.now().toString(36)}`;
    let result: SteadyResult;
    try {
      result = await steady(
        "certflow",
        prefix,
        durationMs,
        tracker,
        async (subjects) => {
          await postBatch(client, producer, subjects.map((subject, index) => notificationInput(subject, index)));
        },
        { certflow: system.child.pid },
      );
    } finally {
      consuming = false;
      await consumer;
    }
    return { ...result, phases: await ledgerPhases(system.id, prefix) };
  } finally {
    client.close();
    await system.destroy();
  }
}

async function consumeCertflow(client: HttpClient, subscription: Credential, tracker: Tracker, running: () => boolean): Promise<void> {
  while (running()) {
    const messages = await pull(client, subscription, PULL_MAX, PULL_WAIT_SECONDS);
    const at = performance.now();
    for (const message of messages) tracker.markReceived(message.notification.subject, at);
    await ack(client, subscription, messages);
  }
}

async function rawLatency(durationMs: number): Promise<SteadyResult> {
  const raw = await RawJetStream.open(isolationId("latency_raw"));
  try {
    await raw.addDurable("bench-latency");
    const tracker = new Tracker();
    const consumer = await raw.consume("bench-latency", PULL_MAX, (message: JsMsg) => {
      const { subject } = message.json<{ subject: string }>();
      tracker.markReceived(subject, performance.now());
      message.ack();
    });
    try {
      return await steady("raw", `lat-${Date.now().toString(36)}`, durationMs, tracker, async (subjects) => {
        await raw.publishMany(subjects.map((subject, index) => envelopeOf(notificationInput(subject, index), "bench-producer")));
      });
    } finally {
      await consumer.stop();
    }
  } finally {
    await raw.destroy();
  }
}
