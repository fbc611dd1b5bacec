import pg from "pg";
import { rawSteadyLatency } from "./baselines/raw-latency.js";
import {
  DRAIN_PULL_MAX,
  createProducer,
  createSubscription,
  drainPulled,
  postBatch,
  pullWhile,
  routeTimesBetween,
  scrapeRouteTimes,
  type Credential,
} from "./lib/certflow-api.js";
import { cpuBetween, cpuSnapshot } from "./lib/cpu.js";
import { ADMIN_TOKEN, DATABASE_URL, SCALE, isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { describePhases, ledgerPhases, type PhaseTimes } from "./lib/ledger-phases.js";
import { chunk } from "./lib/measure.js";
import { makeInputs, notificationInput } from "./lib/payload.js";
import { closedLoop, progress } from "./lib/progress.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { formatNumber, type Distribution } from "./lib/stats.js";
import { LatencyTracker, STEADY_DRAIN_TIMEOUT_MS, STEADY_RATE, STEADY_WARMUP_MS, runSteady, type SteadyLatency } from "./lib/steady-rate.js";
import { Tally } from "./lib/tally.js";
import { PATH_SERVICES, sleep, startCertflow, type CertflowProcess } from "./lib/system-process.js";
import { WebhookReceiver } from "./lib/webhook-receiver.js";

/**
 * Push (issue 4). Two certflow processes in turn, each with one subscription: a push one
 * delivering to a node:http receiver in this process, then a pull one drained over REST. Each
 * takes the same throughput run (notifications posted in batches while they are delivered) and
 * then the same steady-rate latency run; a raw JetStream publish-to-receive run follows.
 */

const BATCH_SIZE = 1000;
/** Producer batches in flight (as in the end-to-end benchmark). */
const BATCHES_IN_FLIGHT = 2;
const WARMUP = 200;
/** Notifications per second in the latency runs (BENCH_LATENCY_RATE, as the latency benchmark). */
const RATE = STEADY_RATE;
/** CERTFLOW_PUSH_CONCURRENCY of the certflow process; certflow's default when unset. */
const PUSH_CONCURRENCY = process.env.BENCH_PUSH_CONCURRENCY;
const PUSH_ENV: Record<string, string> = {
  CERTFLOW_PUSH_ALLOW_PRIVATE: "true",
  ...(PUSH_CONCURRENCY ? { CERTFLOW_PUSH_CONCURRENCY: PUSH_CONCURRENCY } : {}),
};

export async function push(): Promise<Figure[]> {
  const total = scaled(5_000, { min: 1_000, step: BATCH_SIZE });
  const durationMs = Math.max(2_000, Math.round(10_000 * SCALE));
  console.log(
    `push: ${formatNumber(total)} notifications (unique subjects) in batches of ${BATCH_SIZE}, ${BATCHES_IN_FLIGHT} in flight, ` +
      `pushed to a local receiver (push concurrency ${PUSH_CONCURRENCY ?? "certflow's default"}) vs pulled max=${DRAIN_PULL_MAX} and acked; ` +
      `then ${RATE}/s for ${durationMs / 1000} s (+${STEADY_WARMUP_MS / 1000} s warm-up) on each`,
  );
  const receiver = await WebhookReceiver.start();
  try {
    const pushed = await pushSide(receiver, total, durationMs);
    const pulled = await pullSide(total, durationMs);
    const raw = await rawSteadyLatency("raw latency", durationMs);

    const throughput = figure({
      benchmark: "push",
      name: "push throughput",
      unit: "notifications/s",
      certflow: pushed.throughput.rate,
      baseline: pulled.throughput.rate,
      baselineName: `certflow pull max=${DRAIN_PULL_MAX} + ack, same run`,
      better: "higher",
      details: {
        notifications: total,
        pushConcurrency: Number(PUSH_CONCURRENCY ?? 16),
        measuredAs: {
          push: "first batch posted to the last webhook received (the receiver answers 204 at once)",
          pull: "first batch posted to the ack that completed the set (one ack in flight while the next pull runs)",
        },
        seconds: { push: round(pushed.throughput.ms / 1000), pull: round(pulled.throughput.ms / 1000) },
        pushSettledSeconds: round(pushed.throughput.settledMs / 1000),
        exactlyOnce: { push: pushed.throughput.check, pull: pulled.throughput.check },
        cpuPush: pushed.throughput.cpu,
        cpuPull: pulled.throughput.cpu,
        serverRoutesPull: pulled.throughput.serverRoutes,
        certflowStagesPushMs: pushed.throughput.phases,
        pushAttemptStagesMs: pushed.throughput.attempts,
        certflowStagesPullMs: pulled.throughput.phases,
      },
    });
    announce(throughput);
    console.log(`     push settled (every delivery acked in certflow's ledger) after ${(pushed.throughput.settledMs / 1000).toFixed(2)} s`);
    if (pushed.throughput.attempts) console.log(`     push stages (from its ledger and attempt log): ${describeAttempts(pushed.throughput.attempts)}`);

    const latencyDetails = {
      rate: RATE,
      seconds: durationMs / 1000,
      measuredAs:
        "accept = the batch POST answered 202 (raw: publish acks received); send = just before the POST (raw: before js.publish); receive = webhook body received / pull answered / message handed to the raw consumer",
      achievedRate: { push: Math.round(pushed.latency.rate), pull: Math.round(pulled.latency.rate), raw: Math.round(raw.rate) },
      acceptToReceiveMs: { push: rounded(pushed.latency.fromAccept), pull: rounded(pulled.latency.fromAccept), raw: rounded(raw.fromAccept) },
      sendToReceiveMs: { push: rounded(pushed.latency.fromSend), pull: rounded(pulled.latency.fromSend), raw: rounded(raw.fromSend) },
      receivedBeforeAccept: { push: pushed.latency.early, pull: pulled.latency.early, raw: raw.early },
      drainedSecondsAfterLastSend: { push: round(pushed.latency.drainMs / 1000), pull: round(pulled.latency.drainMs / 1000), raw: round(raw.drainMs / 1000) },
      sendErrors: { push: pushed.latency.errors, pull: pulled.latency.errors, raw: raw.errors },
      cpuPush: pushed.latency.cpu,
      cpuPull: pulled.latency.cpu,
      cpuRaw: raw.cpu,
      certflowStagesPushMs: pushed.latency.phases,
      pushAttemptStagesMs: pushed.latency.attempts,
      certflowStagesPullMs: pulled.latency.phases,
    };
    const latencies = (["p50", "p99"] as const).map((quantile) =>
      figure({
        benchmark: "push",
        name: `accept-to-webhook latency ${quantile} at ${RATE}/s`,
        unit: "ms",
        certflow: pushed.latency.fromAccept[quantile],
        baseline: pulled.latency.fromAccept[quantile],
        baselineName: "certflow accept-to-pull, same run",
        better: "lower",
        details: { ...latencyDetails, rawPublishToReceiveMs: raw.fromSend[quantile] },
      }),
    );
    latencies.forEach(announce);
    const pair = (value: Distribution) => `p50 ${formatNumber(value.p50, 1)} ms / p99 ${formatNumber(value.p99, 1)} ms`;
    console.log(
      `     send-to-receive: push ${pair(pushed.latency.fromSend)}, pull ${pair(pulled.latency.fromSend)}, ` +
        `raw publish-to-receive ${pair(raw.fromSend)}; achieved rates ${formatNumber(pushed.latency.rate)}/s, ` +
        `${formatNumber(pulled.latency.rate)}/s, ${formatNumber(raw.rate)}/s`,
    );
    if (pushed.latency.drainMs > 1000) {
      console.log(
        `     push did not keep up with ${RATE}/s: its backlog drained ${(pushed.latency.drainMs / 1000).toFixed(1)} s after the last send, so its latency is mostly queueing`,
      );
    }
    if (pushed.latency.phases) console.log(`     push stages: ${describePhases(pushed.latency.phases)}`);
    if (pushed.latency.attempts) console.log(`     push attempts: ${describeAttempts(pushed.latency.attempts)}`);
    if (pulled.latency.phases) console.log(`     pull stages: ${describePhases(pulled.latency.phases)}`);
    return [throughput, ...latencies];
  } finally {
    await receiver.close();
  }
}

const round = (value: number) => Math.round(value * 100) / 100;
const rounded = (latency: Distribution) =>
  Object.fromEntries(Object.entries(latency).map(([key, value]) => [key, key === "count" ? value : Math.round(value * 100) / 100]));

// ---------------------------------------------------------------------------------------------
// Throughput

interface Throughput {
  ms: number;
  rate: number;
  /** Push: until certflow's ledger had every delivery acked (the receiver's 204s recorded and settled). */
  settledMs: number;
  check: ReturnType<Tally["check"]>;
  cpu: Record<string, string>;
  serverRoutes?: Record<string, string>;
  phases?: PhaseTimes;
  attempts?: AttemptStages;
}

/**
 * Posts `total` notifications in batches (BATCHES_IN_FLIGHT at once) while `consume` delivers
 * them into the tally; timed from the first post to the delivery that completes the set.
 */
async function throughputRun(
  label: string,
  system: CertflowProcess,
  client: HttpClient,
  producer: Credential,
  prefix: string,
  total: number,
  tally: Tally,
  consume: () => Promise<void>,
): Promise<Omit<Throughput, "settledMs">> {
  let sent = 0;
  const stop = progress(label, () => `${formatNumber(sent)}/${formatNumber(total)} accepted, ${formatNumber(tally.ids.size)} delivered`, () => tally.ids.size);
  const routesBefore = await scrapeRouteTimes(client);
  const cpuBefore = cpuSnapshot({ certflow: system.child.pid });
  const started = performance.now();
  const consuming = consume();
  consuming.catch(() => {});
  try {
    const batches = chunk(makeInputs(prefix, total), BATCH_SIZE);
    await closedLoop(batches.length, BATCHES_IN_FLIGHT, async (index) => {
      for (const id of await postBatch(client, producer, batches[index]!)) tally.expected.add(id);
      sent += batches[index]!.length;
    });
    await consuming;
  } finally {
    stop();
  }
  const cpu = cpuBetween(cpuBefore, cpuSnapshot({ certflow: system.child.pid }));
  const serverRoutes = routeTimesBetween(routesBefore, await scrapeRouteTimes(client));
  const ms = tally.lastAt - started;
  return { ms, rate: (total * 1000) / ms, check: tally.check(), cpu, serverRoutes, phases: await ledgerPhases(system.id, prefix) };
}

async function waitFor(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// ---------------------------------------------------------------------------------------------
// Latency

type Latency = SteadyLatency & { phases?: PhaseTimes; attempts?: AttemptStages };

// ---------------------------------------------------------------------------------------------
// The three systems

interface Side {
  throughput: Throughput;
  latency: Latency;
}

async function pushSide(receiver: WebhookReceiver, total: number, durationMs: number): Promise<Side> {
  const system = await startCertflow({ id: isolationId("push"), services: PATH_SERVICES, profileName: "push", env: PUSH_ENV });
  const client = new HttpClient(system.url, BATCHES_IN_FLIGHT + 4);
  try {
    const producer = await createProducer(client, "bench-producer");
    const name = "bench-push";
    await client.json("POST", "/v1/subscriptions", 201, {
      body: { name, filters: [{ types: ["*"] }], delivery: { mode: "push", url: receiver.url } },
      token: ADMIN_TOKEN,
    });
    const acked = async () =>
      (await client.json<{ stats: { acked: number } }>("GET", `/v1/subscriptions/${name}`, 200, { token: ADMIN_TOKEN })).stats.acked;

    // Warm-up (also waits for the push supervisor to start the subscription's pump).
    console.log("  push: warming up");
    const warm = new Tally(new Set(), WARMUP);
    receiver.onWebhook = (id, _body, at) => warm.add(id, at);
    for (const id of await postBatch(client, producer, makeInputs(`push-warm-${Date.now().toString(36)}`, WARMUP))) warm.expected.add(id);
    await waitFor("the warm-up webhooks", () => warm.complete, 30_000);
    let settled = WARMUP;
    for (const deadline = Date.now() + 30_000; (await acked()) < settled && Date.now() < deadline; ) await sleep(20);

    const prefix = `push-${Date.now().toString(36)}`;
    const tally = new Tally(new Set(), total);
    receiver.onWebhook = (id, _body, at) => tally.add(id, at);
    const started = performance.now();
    const run = await throughputRun("certflow push", system, client, producer, prefix, total, tally, () =>
      waitFor("every webhook", () => tally.complete, 60_000 + total * 10),
    );
    // The receiver has everything; certflow still records attempts and acks the last ones.
    settled += total;
    for (const deadline = Date.now() + 60_000; (await acked()) < settled && Date.now() < deadline; ) await sleep(10);
    const settledMs = performance.now() - started;
    if (!run.check.ok) throw new Error(`push delivery check failed: ${JSON.stringify(run.check)}`);
    const throughput: Throughput = { ...run, settledMs, attempts: await attemptStages(system.id, name, prefix) };

    const tracker = new LatencyTracker();
    receiver.onWebhook = (_id, body, at) => tracker.markReceived((JSON.parse(body) as { subject: string }).subject, at);
    const latencyPrefix = `push-lat-${Date.now().toString(36)}`;
    const latency = await runSteady(
      {
        label: "certflow push latency",
        prefix: latencyPrefix,
        durationMs,
        pids: { certflow: system.child.pid },
        // Push may fall behind the rate: allow for draining the backlog at the throughput just measured, three times over.
        drainTimeoutMs: Math.max(STEADY_DRAIN_TIMEOUT_MS, ((STEADY_WARMUP_MS + durationMs) * RATE * 3) / Math.max(1, throughput.rate)),
      },
      tracker,
      async (subjects) => {
        await postBatch(client, producer, subjects.map((subject, index) => notificationInput(subject, index)));
      },
    );
    return {
      throughput,
      latency: { ...latency, phases: await ledgerPhases(system.id, latencyPrefix), attempts: await attemptStages(system.id, name, latencyPrefix) },
    };
  } finally {
    receiver.onWebhook = () => {};
    client.close();
    await system.destroy();
  }
}

async function pullSide(total: number, durationMs: number): Promise<Side> {
  const system = await startCertflow({ id: isolationId("pull"), services: PATH_SERVICES, profileName: "push-pull" });
  const client = new HttpClient(system.url, BATCHES_IN_FLIGHT + 4);
  try {
    const producer = await createProducer(client, "bench-producer");
    const subscription = await createSubscription(client, "bench-pull");

    console.log("  pull: warming up");
    const warm = new Tally(new Set(), WARMUP);
    for (const id of await postBatch(client, producer, makeInputs(`pull-warm-${Date.now().toString(36)}`, WARMUP))) warm.expected.add(id);
    await drainPulled(client, subscription, warm, 30_000);

    const prefix = `pull-${Date.now().toString(36)}`;
    const tally = new Tally(new Set(), total);
    const run = await throughputRun("certflow pull", system, client, producer, prefix, total, tally, () =>
      drainPulled(client, subscription, tally, 60_000 + total * 10),
    );
    if (!run.check.ok) throw new Error(`pull delivery check failed: ${JSON.stringify(run.check)}`);

    const tracker = new LatencyTracker();
    let consuming = true;
    const consumer = pullWhile(client, subscription, (subject, at) => tracker.markReceived(subject, at), () => consuming);
    const latencyPrefix = `pull-lat-${Date.now().toString(36)}`;
    let latency: Latency;
    try {
      latency = await runSteady(
        { label: "certflow pull latency", prefix: latencyPrefix, durationMs, pids: { certflow: system.child.pid } },
        tracker,
        async (subjects) => {
          await postBatch(client, producer, subjects.map((subject, index) => notificationInput(subject, index)));
        },
      );
    } finally {
      consuming = false;
      await consumer;
    }
    return { throughput: { ...run, settledMs: run.ms }, latency: { ...latency, phases: await ledgerPhases(system.id, latencyPrefix) } };
  } finally {
    client.close();
    await system.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Where a push delivery's time goes, from certflow's own ledger and attempt log

interface AttemptStages {
  attempts: number;
  failed: number;
  /** Lease (the ledger's last_delivered_at) to the attempt's start: the pump launching the POST. */
  leaseToPost: { p50: number; p99: number };
  /** The webhook's round trip, as certflow timed it. */
  postRoundTrip: { p50: number; p99: number };
  /** From the response to the ack transaction's start: recording the attempt. */
  responseToAck: { p50: number; p99: number };
  /** Leases that handed out this many messages on average (messages per distinct lease instant). */
  messagesPerLease: number;
}

async function attemptStages(schema: string, subscriptionName: string, subjectPrefix: string): Promise<AttemptStages | undefined> {
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  try {
    const { rows } = await db.query(
      `WITH a AS (
         SELECT d.last_delivered_at, d.finished_at, t.started_at, t.latency_ms, t.outcome
         FROM "${schema}".subscriptions s
         JOIN "${schema}".deliveries d ON d.subscription_id = s.id AND d.phase = 1
         JOIN "${schema}".notifications n ON n.seq = d.seq
         JOIN "${schema}".delivery_attempts t ON t.subscription_id = s.id AND t.phase = d.phase AND t.seq = d.seq
         WHERE s.name = $1 AND n.subject LIKE $2
       )
       SELECT count(*)::int AS attempts, count(*) FILTER (WHERE outcome = 'failed')::int AS failed,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - last_delivered_at) * 1000) AS l50,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - last_delivered_at) * 1000) AS l99,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000 - latency_ms) AS r50,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000 - latency_ms) AS r99,
         count(*)::float / GREATEST(1, count(DISTINCT last_delivered_at)) AS per_lease
       FROM a`,
      [subscriptionName, `${subjectPrefix}%`],
    );
    const row = rows[0];
    if (!row || row.attempts === 0) return undefined;
    const ms = (value: unknown) => Math.round(Number(value) * 10) / 10;
    return {
      attempts: row.attempts,
      failed: row.failed,
      leaseToPost: { p50: ms(row.l50), p99: ms(row.l99) },
      postRoundTrip: { p50: ms(row.p50), p99: ms(row.p99) },
      responseToAck: { p50: ms(row.r50), p99: ms(row.r99) },
      messagesPerLease: ms(row.per_lease),
    };
  } finally {
    await db.end();
  }
}

function describeAttempts(stages: AttemptStages): string {
  const pair = (value: { p50: number; p99: number }) => `p50 ${value.p50} ms / p99 ${value.p99} ms`;
  return (
    `lease->POST ${pair(stages.leaseToPost)}, POST round trip ${pair(stages.postRoundTrip)}, ` +
    `response->ack ${pair(stages.responseToAck)}; ${stages.messagesPerLease} messages per lease; ${stages.failed} of ${stages.attempts} attempts failed`
  );
}
