import type { JsMsg } from "@nats-io/jetstream";
import { RawJetStream } from "./baselines/jetstream.js";
import {
  DRAIN_PULL_MAX,
  DRAIN_PULL_WAIT_SECONDS,
  createProducer,
  createSubscription,
  drainPipelined,
  PULLS_IN_FLIGHT,
  postBatch,
  routeTimesBetween,
  scrapeRouteTimes,
  type Credential,
} from "./lib/certflow-api.js";
import { cpuBetween, cpuSnapshot } from "./lib/cpu.js";
import { isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { describePhases, ledgerPhases, type PhaseTimes } from "./lib/ledger-phases.js";
import { chunk } from "./lib/measure.js";
import { envelopeOf, makeInputs } from "./lib/payload.js";
import { closedLoop, progress } from "./lib/progress.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { PATH_SERVICES, sleep, startCertflow } from "./lib/system-process.js";
import { Tally } from "./lib/tally.js";

const BATCH_SIZE = 1000;
/** Producer batches in flight, on both sides. */
const BATCHES_IN_FLIGHT = 2;
/** What each certflow consumer loop asks for; the raw consumers pull batches of the same size. */
const PULL_MAX = DRAIN_PULL_MAX;
const PULL_WAIT_SECONDS = DRAIN_PULL_WAIT_SECONDS;
/** Notifications sent through the whole path before measuring (JIT, pools, stream files). */
const WARMUP = 200;

interface RunResult {
  ms: number;
  rate: number;
  exactlyOnce: boolean;
  perSubscription: ReturnType<Tally["check"]>[];
  cpu: Record<string, string>;
  serverRoutes?: Record<string, string>;
  phases?: PhaseTimes;
}

export async function endToEnd(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const cases = [
    { subscriptions: 1, notifications: scaled(40_000, { min: 1_000, step: BATCH_SIZE }) },
    { subscriptions: 10, notifications: scaled(10_000, { min: 1_000, step: BATCH_SIZE }) },
  ];
  for (const { subscriptions, notifications } of cases) {
    console.log(
      `end-to-end, ${subscriptions} subscription(s): ${notifications} notifications in batches of ${BATCH_SIZE} ` +
        `(${BATCHES_IN_FLIGHT} in flight), each consumer keeps ${PULLS_IN_FLIGHT} POST .../pull (max=${PULL_MAX} wait=${PULL_WAIT_SECONDS}) in flight, each acking the batch before`,
    );
    const certflow = await certflowRun(subscriptions, notifications);
    const raw = await rawRun(subscriptions, notifications);
    const result = figure({
      benchmark: "end-to-end",
      name: `end-to-end, ${subscriptions} subscription${subscriptions > 1 ? "s" : ""}`,
      unit: "notifications/s",
      certflow: certflow.rate,
      baseline: raw.rate,
      baselineName: `raw publish + ${subscriptions} durable pull consumer${subscriptions > 1 ? "s" : ""}`,
      better: "higher",
      details: {
        notifications,
        subscriptions,
        deliveries: notifications * subscriptions,
        seconds: { certflow: round(certflow.ms / 1000), baseline: round(raw.ms / 1000) },
        exactlyOnce: { certflow: certflow.exactlyOnce, baseline: raw.exactlyOnce },
        perSubscriptionCertflow: certflow.perSubscription,
        perConsumerBaseline: raw.perSubscription,
        cpuCertflow: certflow.cpu,
        cpuBaseline: raw.cpu,
        serverRoutesCertflow: certflow.serverRoutes,
        certflowStagesMs: certflow.phases,
      },
    });
    announce(result);
    console.log(
      `     every subscription received every id exactly once: certflow ${yesNo(certflow)}, baseline ${yesNo(raw)}`,
    );
    if (!certflow.exactlyOnce || !raw.exactlyOnce) {
      throw new Error(`exactly-once check failed: ${JSON.stringify({ certflow: certflow.perSubscription, raw: raw.perSubscription })}`);
    }
    figures.push(result);
  }
  return figures;
}

const round = (value: number) => Math.round(value * 100) / 100;
const yesNo = (run: RunResult) => {
  const distinct = run.perSubscription.map((tally) => tally.distinct);
  return `${run.exactlyOnce ? "yes" : "NO"} (distinct ids per subscription ${Math.min(...distinct)}..${Math.max(...distinct)}, duplicates ${run.perSubscription.reduce((sum, tally) => sum + tally.duplicates, 0)})`;
};

/**
 * certflow: the producer posts batches over HTTP while one consumer loop per subscription
 * pulls (long-poll) and acks over HTTP, with POST .../pull carrying the acks of the batch before
 * and two pulls in flight (see consumePipelined); timed from the first post to the ack that completes
 * the last subscription.
 */
async function certflowRun(subscriptionCount: number, total: number): Promise<RunResult> {
  // The services on the measured path: the prefill service's projection reads the same stream but
  // takes no part in accept-to-ack, and the raw baseline has nothing like it.
  const system = await startCertflow({ id: isolationId("e2e"), services: PATH_SERVICES, profileName: `end-to-end-${subscriptionCount}` });
  const client = new HttpClient(system.url, subscriptionCount * 2 + BATCHES_IN_FLIGHT + 2);
  try {
    const producer = await createProducer(client, "bench-producer");
    const subscriptions: Credential[] = [];
    for (let index = 0; index < subscriptionCount; index++) subscriptions.push(await createSubscription(client, `bench-sub-${index}`));

    // Warm-up: one small batch through the whole path, drained by every subscription.
    console.log("  certflow: warming up");
    const warmIds = new Set(await postBatch(client, producer, makeInputs("e2e-warm", WARMUP)));
    await Promise.all(subscriptions.map((subscription) => drainPipelined(client, subscription, new Tally(warmIds, WARMUP), 30_000)));

    const prefix = `e2e-${Date.now().toString(36)}`;
    const inputs = makeInputs(prefix, total);
    const expected = new Set<string>();
    const tallies = subscriptions.map(() => new Tally(expected, total));
    let sent = 0;
    const stop = progress(
      `certflow ${subscriptionCount} sub`,
      () => `${sent}/${total} accepted, acked per subscription ${describeTallies(tallies)}`,
      () => Math.min(...tallies.map((tally) => tally.ids.size)),
    );
    const routesBefore = await scrapeRouteTimes(client);
    const cpuBefore = cpuSnapshot({ certflow: system.child.pid });
    const started = performance.now();
    const consumers = Promise.all(
      subscriptions.map((subscription, index) => drainPipelined(client, subscription, tallies[index]!, 60_000 + total * 10)),
    );
    // Reported by the await below; if the producer fails first, the loops end with the system.
    consumers.catch(() => {});
    try {
      const batches = chunk(inputs, BATCH_SIZE);
      await closedLoop(batches.length, BATCHES_IN_FLIGHT, async (index) => {
        for (const id of await postBatch(client, producer, batches[index]!)) expected.add(id);
        sent += batches[index]!.length;
      });
      await consumers;
    } finally {
      stop();
    }
    const ended = Math.max(...tallies.map((tally) => tally.lastAt));
    const cpu = cpuBetween(cpuBefore, cpuSnapshot({ certflow: system.child.pid }));
    const serverRoutes = routeTimesBetween(routesBefore, await scrapeRouteTimes(client));
    const phases = await ledgerPhases(system.id, prefix);
    console.log(`     certflow stages (from its ledger): ${describePhases(phases)}`);
    return { ...summarize(started, ended, total, tallies, cpu, serverRoutes), phases };
  } finally {
    client.close();
    await system.destroy();
  }
}

/**
 * The raw baseline: the same envelopes published with js.publish (pipelined batches) into one
 * stream, consumed by one durable pull consumer per subscription, each acking every message.
 */
async function rawRun(consumerCount: number, total: number): Promise<RunResult> {
  const raw = await RawJetStream.open(isolationId("e2e_raw"));
  const stoppers: Array<() => Promise<void>> = [];
  try {
    const names = Array.from({ length: consumerCount }, (_, index) => `bench-consumer-${index}`);
    for (const name of names) await raw.addDurable(name);

    const warm = makeInputs("e2e-warm", WARMUP).map((input) => envelopeOf(input, "bench-producer"));
    const inputs = makeInputs(`e2e-${Date.now().toString(36)}`, total);
    // Ids are made when publishing (as certflow makes them on accept); the warm-up ones are known.
    const warmIds = new Set(warm.map((envelope) => envelope.id));
    const expected = new Set<string>();
    const warmTallies = names.map(() => new Tally(warmIds, WARMUP));
    const tallies = names.map(() => new Tally(expected, total));
    let measuring = false;
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let warmFinish: () => void = () => {};
    const warmFinished = new Promise<void>((resolve) => (warmFinish = resolve));

    for (const [index, name] of names.entries()) {
      const consumer = await raw.consume(name, PULL_MAX, (message: JsMsg) => {
        const { id } = message.json<{ id: string }>();
        message.ack();
        if (warmIds.has(id)) {
          warmTallies[index]!.add(id, performance.now());
          if (warmTallies.every((tally) => tally.complete)) warmFinish();
          return;
        }
        const tally = tallies[index]!;
        tally.add(id, performance.now());
        if (measuring && tallies.every((each) => each.complete)) finish();
      });
      stoppers.push(consumer.stop);
    }

    console.log("  raw: warming up");
    await raw.publishMany(warm);
    await warmFinished;

    let sent = 0;
    const stop = progress(
      `raw ${consumerCount} consumer`,
      () => `${sent}/${total} published, acked per consumer ${describeTallies(tallies)}`,
      () => Math.min(...tallies.map((tally) => tally.ids.size)),
    );
    const cpuBefore = cpuSnapshot();
    measuring = true;
    const started = performance.now();
    try {
      const batches = chunk(inputs, BATCH_SIZE);
      await closedLoop(batches.length, BATCHES_IN_FLIGHT, async (index) => {
        const envelopes = batches[index]!.map((input) => envelopeOf(input, "bench-producer"));
        for (const envelope of envelopes) expected.add(envelope.id);
        await raw.publishMany(envelopes);
        sent += envelopes.length;
      });
      if (tallies.every((each) => each.complete)) finish();
      const timeout = sleep(60_000 + total * 10).then(() => "timeout" as const);
      if ((await Promise.race([finished, timeout])) === "timeout") throw new Error(`raw consumers timed out: ${describeTallies(tallies)}`);
      // Acks are sent asynchronously: the run ends when the server has them all (it answers the flush after them).
      await raw.nc.flush();
    } finally {
      stop();
    }
    const ended = performance.now();
    const cpu = cpuBetween(cpuBefore, cpuSnapshot());
    return summarize(started, ended, total, tallies, cpu);
  } finally {
    for (const stopConsumer of stoppers) await stopConsumer().catch(() => {});
    await raw.destroy();
  }
}

function summarize(
  started: number,
  ended: number,
  total: number,
  tallies: Tally[],
  cpu: Record<string, string>,
  serverRoutes?: Record<string, string>,
): RunResult {
  const ms = ended - started;
  const perSubscription = tallies.map((tally) => tally.check());
  const exactlyOnce = perSubscription.every((check) => check.ok);
  return { ms, rate: (total * 1000) / ms, exactlyOnce, perSubscription, cpu, serverRoutes };
}

function describeTallies(tallies: Tally[]): string {
  const counts = tallies.map((tally) => tally.ids.size);
  return tallies.length === 1 ? `${counts[0]}` : `min ${Math.min(...counts)} max ${Math.max(...counts)}`;
}
