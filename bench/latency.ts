import { rawSteadyLatency } from "./baselines/raw-latency.js";
import { DRAIN_PULL_MAX, DRAIN_PULL_WAIT_SECONDS, PULLS_IN_FLIGHT, consumePipelined, createProducer, createSubscription, postBatch } from "./lib/certflow-api.js";
import { SCALE, isolationId } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { notificationInput } from "./lib/payload.js";
import { describePhases, ledgerPhases, type PhaseTimes } from "./lib/ledger-phases.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { formatNumber, type Distribution } from "./lib/stats.js";
import { LatencyTracker, STEADY_RATE, STEADY_TICK_MS, STEADY_WARMUP_MS, runSteady, type SteadyLatency } from "./lib/steady-rate.js";
import { PATH_SERVICES, startCertflow } from "./lib/system-process.js";

/** Notifications per second, on both sides (BENCH_LATENCY_RATE to try another); a batch every tick. */
const RATE = STEADY_RATE;

/** Send-to-receive latency (the accept-to-pull figure), with what else the run measured. */
interface SteadyResult {
  rate: number;
  latency: Distribution;
  errors: number;
  cpu: Record<string, string>;
  phases?: PhaseTimes;
}

const sendToReceive = (run: SteadyLatency): SteadyResult => ({ rate: run.rate, latency: run.fromSend, errors: run.errors, cpu: run.cpu });

export async function latency(): Promise<Figure[]> {
  const durationMs = Math.max(2_000, Math.round(10_000 * SCALE));
  console.log(
    `latency: ${RATE} notifications/s for ${durationMs / 1000} s (+${STEADY_WARMUP_MS / 1000} s warm-up), a batch every ${STEADY_TICK_MS} ms, ` +
      `consumer keeps ${PULLS_IN_FLIGHT} POST .../pull (max=${DRAIN_PULL_MAX} wait=${DRAIN_PULL_WAIT_SECONDS}) in flight, each acking the batch before`,
  );
  const certflow = await certflowLatency(durationMs);
  const raw = sendToReceive(await rawSteadyLatency("raw", durationMs));
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
    const tracker = new LatencyTracker();
    const consumer = consumePipelined(client, subscription, {
      received: (messages, at) => messages.forEach((message) => tracker.markReceived(message.notification.subject, at)),
      acked() {},
      running: () => consuming,
    });
    const prefix = `lat-${Date.now().toString(36)}`;
    let result: SteadyResult;
    try {
      const run = await runSteady({ label: "certflow", prefix, durationMs, pids: { certflow: system.child.pid } }, tracker, async (subjects) => {
        await postBatch(client, producer, subjects.map((subject, index) => notificationInput(subject, index)));
      });
      result = sendToReceive(run);
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
