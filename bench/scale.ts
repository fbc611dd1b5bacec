import { ADMIN_TOKEN } from "./lib/env.js";
import { createProducer, createSubscription, drainPulled, postBatch } from "./lib/certflow-api.js";
import { isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { chunk } from "./lib/measure.js";
import { makeInputs } from "./lib/payload.js";
import { closedLoop, progress } from "./lib/progress.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { distribution, perSecond } from "./lib/stats.js";
import { sleep, startCertflow, type CertflowProcess } from "./lib/system-process.js";
import { Tally } from "./lib/tally.js";

const BATCH_SIZE = 1000;
const BATCHES_IN_FLIGHT = 2;
const PARTITIONS = 6;
/** Short leases, so the failover figure is quick to take; it is reported beside the lease time. */
const LEASE_SECONDS = 3;
const KILLS = 10;

interface Cluster {
  leaseSeconds: number;
  processes: Array<{ id: string; pid: number; live: boolean; owns: Array<{ group: string }> }>;
  unowned: Array<{ group: string }>;
}

/**
 * Scale-out: end-to-end throughput with 1, 2 and 3 dispatcher processes (one API process runs
 * producer and consumer; the baseline is the single dispatcher, same run), and how long a
 * SIGKILLed dispatcher's partitions take to move to the survivors, beside the lease time.
 */
export async function scale(): Promise<Figure[]> {
  const total = scaled(20_000, { min: 2_000, step: BATCH_SIZE });
  const rates = new Map<number, number>();
  for (const dispatchers of [1, 2, 3]) {
    rates.set(dispatchers, await throughput(dispatchers, total));
    console.log(`  ${dispatchers} dispatcher process(es): ${Math.round(rates.get(dispatchers)!)} notifications/s`);
  }
  const figures: Figure[] = [];
  for (const dispatchers of [2, 3]) {
    const result = figure({
      benchmark: "scale",
      name: `end to end with ${dispatchers} dispatcher processes`,
      unit: "notifications/s",
      certflow: rates.get(dispatchers)!,
      baseline: rates.get(1)!,
      baselineName: "1 dispatcher process, same run",
      better: "higher",
      details: { notifications: total, partitions: PARTITIONS, cores: (await import("node:os")).availableParallelism() },
    });
    announce(result);
    figures.push(result);
  }
  const moves = await failover();
  const stats = distribution(moves);
  for (const [label, value] of [["p50", stats.p50], ["max", stats.max]] as const) {
    const result = figure({
      benchmark: "scale",
      name: `partitions of a SIGKILLed dispatcher moved, ${label} of ${KILLS}`,
      unit: "ms",
      certflow: value,
      baseline: LEASE_SECONDS * 1000,
      baselineName: "the lease time (CERTFLOW_LEASE_SECONDS)",
      better: "lower",
      details: { movesMs: moves.map(Math.round), partitions: PARTITIONS, processes: 3 },
    });
    announce(result);
    figures.push(result);
  }
  return figures;
}

async function startCluster(prefix: string, dispatchers: number) {
  const id = isolationId(prefix);
  const env = { CERTFLOW_PARTITIONS: String(PARTITIONS), CERTFLOW_LEASE_SECONDS: String(LEASE_SECONDS) };
  const api = await startCertflow({ id, services: "producer,consumer", env });
  const workers: CertflowProcess[] = [];
  for (let index = 0; index < dispatchers; index++) workers.push(await startCertflow({ id, services: "dispatcher", env }));
  const client = new HttpClient(api.url, 8);
  await untilSpread(client, dispatchers);
  return { api, workers, client, id, env };
}

async function throughput(dispatchers: number, total: number): Promise<number> {
  const { api, workers, client } = await startCluster(`scale${dispatchers}`, dispatchers);
  try {
    const producer = await createProducer(client, "bench-producer");
    const subscription = await createSubscription(client, "bench-sub");
    const inputs = makeInputs(`scale-${dispatchers}-${Date.now().toString(36)}`, total);
    const expected = new Set<string>();
    const tally = new Tally(expected, total);
    const stop = progress(`${dispatchers} dispatcher(s)`, () => `${tally.ids.size}/${total} acked`, () => tally.ids.size);
    const started = performance.now();
    const consumer = drainPulled(client, subscription, tally, 120_000 + total * 10);
    consumer.catch(() => {});
    try {
      const batches = chunk(inputs, BATCH_SIZE);
      await closedLoop(batches.length, BATCHES_IN_FLIGHT, async (index) => {
        for (const id of await postBatch(client, producer, batches[index]!)) expected.add(id);
      });
      await consumer;
    } finally {
      stop();
    }
    const check = tally.check();
    if (!check.ok) throw new Error(`exactly-once check failed with ${dispatchers} dispatchers: ${JSON.stringify(check)}`);
    return perSecond(total, tally.lastAt - started);
  } finally {
    client.close();
    for (const worker of workers) await worker.stop();
    await api.destroy();
  }
}

/** Kills one of three dispatchers, times until its partitions are owned again, restarts it and waits for the rebalance; KILLS times. */
async function failover(): Promise<number[]> {
  const { api, workers, client, id, env } = await startCluster("scalefail", 3);
  const moves: number[] = [];
  try {
    for (let kill = 0; kill < KILLS; kill++) {
      const index = kill % workers.length;
      const victim = workers[index]!;
      const before = await cluster(client);
      const victimId = before.processes.find((process) => process.pid === victim.child.pid)?.id;
      const killedAt = performance.now();
      victim.child.kill("SIGKILL");
      for (;;) {
        const now = await cluster(client);
        const orphaned = now.unowned.some((unit) => unit.group === "dispatcher");
        const victimOwns = now.processes.some((process) => process.id === victimId && process.owns.some((unit) => unit.group === "dispatcher"));
        if (!orphaned && !victimOwns) break;
        await sleep(20);
      }
      moves.push(performance.now() - killedAt);
      console.log(`  kill ${kill + 1}/${KILLS}: partitions moved in ${Math.round(moves[moves.length - 1]!)} ms`);
      await victim.stop(0).catch(() => undefined);
      workers[index] = await startCertflow({ id, services: "dispatcher", env });
      await untilSpread(client, 3);
    }
    return moves;
  } finally {
    client.close();
    for (const worker of workers) await worker.stop();
    await api.destroy();
  }
}

async function untilSpread(client: HttpClient, dispatchers: number): Promise<void> {
  const share = Math.ceil(PARTITIONS / dispatchers);
  for (;;) {
    const now = await cluster(client);
    const counts = now.processes.filter((process) => process.live).map((process) => process.owns.filter((unit) => unit.group === "dispatcher").length).filter((count) => count > 0);
    if (counts.length === dispatchers && counts.every((count) => count <= share) && counts.reduce((a, b) => a + b, 0) === PARTITIONS) return;
    await sleep(50);
  }
}

const cluster = (client: HttpClient) => client.json<Cluster>("GET", "/v1/cluster", 200, { token: ADMIN_TOKEN });
