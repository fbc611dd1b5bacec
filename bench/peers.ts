import { bullMqPeer, redisAnswers } from "./baselines/bullmq.js";
import { RawJetStream } from "./baselines/jetstream.js";
import { jetStreamPeer } from "./baselines/jetstream-peer.js";
import { pgBossPeer } from "./baselines/pg-boss.js";
import { certflowBatches, rawBatches } from "./ingest.js";
import { createProducer } from "./lib/certflow-api.js";
import { waitUntilCaughtUp } from "./lib/caught-up.js";
import { certflowPeer } from "./lib/certflow-peer.js";
import { ROUNDS, SCALE, isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { bestRound, measure, type Measurement } from "./lib/measure.js";
import { makeInputs } from "./lib/payload.js";
import { latencyRun, throughputRun, type PeerFactory, type ThroughputResult } from "./lib/peer.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { formatNumber } from "./lib/stats.js";
import type { SteadyLatency } from "./lib/steady-rate.js";
import { STEADY_RATE } from "./lib/steady-rate.js";
import { startCertflow } from "./lib/system-process.js";

/** As a new user would run it: batches of 500, 4 in flight, into the all-in-one process. */
const BATCH_SIZE = 500;
const BATCHES_IN_FLIGHT = 4;
const WARMUP = 500;
const ONE = scaled(Number(process.env.BENCH_PEERS_NOTIFICATIONS ?? 20_000), { min: 1_000, step: BATCH_SIZE });
const FAN_OUT = scaled(Number(process.env.BENCH_PEERS_FANOUT_NOTIFICATIONS ?? 5_000), { min: 500, step: BATCH_SIZE });
const FAN_OUT_SUBSCRIPTIONS = 10;
const LATENCY_MS = Math.max(2_000, Math.round(Number(process.env.BENCH_PEERS_LATENCY_SECONDS ?? 5) * 1000 * SCALE));

interface Peer {
  name: string;
  open: PeerFactory;
}

/**
 * certflow (every service in one process, as `npm start`) beside BullMQ on Redis, pg-boss on
 * the same PostgreSQL and raw JetStream, each driven by the same client loop with the same
 * notifications: throughput to acked with 1 and 10 subscriptions, latency at a steady rate,
 * PostgreSQL rows written per delivery, and batch ingest beside raw publish.
 */
export async function peers(): Promise<Figure[]> {
  const others: Peer[] = [];
  if (await redisAnswers()) others.push({ name: "BullMQ", open: bullMqPeer });
  else console.log("  Redis does not answer on BENCH_REDIS_URL: BullMQ is left out (start redis-server to include it)");
  others.push({ name: "pg-boss", open: pgBossPeer }, { name: "raw JetStream", open: jetStreamPeer });
  const certflow: Peer = { name: "certflow", open: certflowPeer() };
  console.log(
    `peers: ${ONE} notifications (1 subscription), ${FAN_OUT} (${FAN_OUT_SUBSCRIPTIONS} subscriptions), batches of ${BATCH_SIZE}, ` +
      `${BATCHES_IN_FLIGHT} in flight; latency at ${STEADY_RATE}/s for ${LATENCY_MS / 1000} s; certflow runs every service`,
  );
  const figures: Figure[] = [];
  const table = new Map<string, Map<string, string>>();
  const note = (row: string, peer: string, value: string) => {
    if (!table.has(row)) table.set(row, new Map());
    table.get(row)!.set(peer, value);
  };

  for (const [subscriptions, notifications] of [
    [1, ONE],
    [FAN_OUT_SUBSCRIPTIONS, FAN_OUT],
  ] as const) {
    const row = `accept -> pulled and acked, ${subscriptions} subscription${subscriptions > 1 ? "s" : ""}`;
    const options = { subscriptions, notifications, batchSize: BATCH_SIZE, batchesInFlight: BATCHES_IN_FLIGHT, warmup: WARMUP, timeoutMs: 120_000 + notifications * subscriptions * 5 };
    const results = new Map<string, ThroughputResult>();
    for (const peer of [certflow, ...others]) {
      console.log(`  ${row}: ${peer.name}`);
      const result = await throughputRun(peer.open, options);
      if (!result.exactlyOnce) throw new Error(`${peer.name}: exactly-once check failed: ${JSON.stringify(result.perSubscription)}`);
      results.set(peer.name, result);
      note(row, peer.name, `${formatNumber(result.rate)}/s`);
      if (result.rowsPerDelivery !== undefined) note(`PostgreSQL rows written per delivery, ${subscriptions} sub.`, peer.name, result.rowsPerDelivery.toFixed(2));
    }
    const mine = results.get(certflow.name)!;
    for (const peer of others) {
      const theirs = results.get(peer.name)!;
      figures.push(
        figure({
          benchmark: "peers",
          name: row,
          unit: "notifications/s",
          certflow: mine.rate,
          baseline: theirs.rate,
          baselineName: peer.name,
          better: "higher",
          details: { notifications, subscriptions, cpuCertflow: mine.cpu, cpuBaseline: theirs.cpu },
        }),
      );
      if (theirs.rowsPerDelivery !== undefined && mine.rowsPerDelivery !== undefined) {
        figures.push(
          figure({
            benchmark: "peers",
            name: `PostgreSQL rows written per delivery, ${subscriptions} subscription${subscriptions > 1 ? "s" : ""}`,
            unit: "rows",
            certflow: mine.rowsPerDelivery,
            baseline: theirs.rowsPerDelivery,
            baselineName: peer.name,
            better: "lower",
            details: { deliveries: (notifications + WARMUP) * subscriptions, note: "n_tup_ins + n_tup_upd + n_tup_del of the system's schema over the run, warm-up included" },
          }),
        );
      }
    }
  }

  const latencies = new Map<string, SteadyLatency>();
  for (const peer of [certflow, ...others]) {
    console.log(`  accept -> received at ${STEADY_RATE}/s: ${peer.name}`);
    const result = await latencyRun(peer.open, LATENCY_MS);
    latencies.set(peer.name, result);
    note(`accept -> received at ${STEADY_RATE}/s, p50 / p99`, peer.name, `${result.fromSend.p50.toFixed(1)} / ${result.fromSend.p99.toFixed(1)} ms`);
  }
  const mine = latencies.get(certflow.name)!;
  for (const peer of others) {
    const theirs = latencies.get(peer.name)!;
    for (const quantile of ["p50", "p99"] as const) {
      figures.push(
        figure({
          benchmark: "peers",
          name: `accept -> received ${quantile} at ${STEADY_RATE}/s`,
          unit: "ms",
          certflow: mine.fromSend[quantile],
          baseline: theirs.fromSend[quantile],
          baselineName: peer.name,
          better: "lower",
          details: { achievedRate: { certflow: Math.round(mine.rate), baseline: Math.round(theirs.rate) }, certflowMs: mine.fromSend, baselineMs: theirs.fromSend },
        }),
      );
    }
  }

  const ingest = await allInOneIngest();
  note("batch ingest, all-in-one process", "certflow", `${formatNumber(ingest.certflow.rate)}/s`);
  note("batch ingest, all-in-one process", "raw JetStream", `${formatNumber(ingest.raw.rate)}/s`);
  figures.push(
    figure({
      benchmark: "peers",
      name: "batch ingest with every service in the process",
      unit: "notifications/s",
      certflow: ingest.certflow.rate,
      baseline: ingest.raw.rate,
      baselineName: "raw js.publish, pipelined",
      better: "higher",
      details: { notifications: ingest.notifications, cpuCertflow: ingest.certflow.cpu, cpuBaseline: ingest.raw.cpu },
    }),
  );
  figures.forEach(announce);
  printPeerTable(table, [certflow.name, ...others.map((peer) => peer.name)]);
  return figures;
}

/** POST /v1/notifications/batch into the process that also dispatches, projects and serves, beside raw publish. */
async function allInOneIngest(): Promise<{ notifications: number; certflow: Measurement; raw: Measurement }> {
  const notifications = scaled(20_000, { min: 2_000, step: 1_000 });
  console.log(`  batch ingest, every service in the process: ${notifications} notifications, ${ROUNDS} round(s)`);
  const system = await startCertflow({ id: isolationId("peer_ingest"), profileName: "peers-ingest" });
  const raw = await RawJetStream.open(isolationId("peer_ingest_raw"));
  // A client per round: keep-alive sockets left idle while the other side runs would be closed by the server under a request.
  const withClient = async <T>(use: (client: HttpClient) => Promise<T>): Promise<T> => {
    const client = new HttpClient(system.url, 8);
    try {
      return await use(client);
    } finally {
      client.close();
    }
  };
  try {
    const producer = await withClient((client) => createProducer(client, "bench-producer"));
    const pids = { certflow: system.child.pid };
    await withClient((client) => certflowBatches(client, producer, makeInputs("warm", 2_000), "warm-up"));
    await rawBatches(raw, producer.name, makeInputs("warm-raw", 2_000), "warm-up");
    const certflow: Measurement[] = [];
    const baseline: Measurement[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const inputs = makeInputs(`in-${round}`, notifications);
      certflow.push(await withClient((client) => measure(pids, () => certflowBatches(client, producer, inputs, `certflow all-in-one, round ${round}`))));
      // What certflow put off until ingest went quiet runs now, not during the raw round.
      await waitUntilCaughtUp(system);
      baseline.push(await measure(pids, () => rawBatches(raw, producer.name, makeInputs(`raw-${round}`, notifications), `raw js.publish, round ${round}`)));
    }
    return { notifications, certflow: bestRound(certflow), raw: bestRound(baseline) };
  } finally {
    await raw.destroy();
    await system.destroy();
  }
}

function printPeerTable(table: Map<string, Map<string, string>>, columns: string[]): void {
  const rows = [...table].map(([name, values]) => [name, ...columns.map((column) => values.get(column) ?? "–")]);
  const header = ["figure", ...columns];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  console.log(`\npeers, same run:\n${line(header)}\n${line(widths.map((width) => "-".repeat(width)))}`);
  for (const row of rows) console.log(line(row));
}
