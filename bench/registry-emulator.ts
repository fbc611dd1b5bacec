import { encodeTransaction, type EncodedTransaction } from "../src/core/registry/wire.js";
import { ADMIN_TOKEN, ROUNDS, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { bestRound, chunk, measure, type Measurement } from "./lib/measure.js";
import { closedLoop, progress } from "./lib/progress.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { sleep, startNodeProcess, startRegistryEmulatorProcess, type NodeProcess } from "./lib/system-process.js";

/**
 * The registry emulator's own rate (issue 9): the ceiling any registry client, the connector
 * included, can reach against it. The emulator runs alone (`src/registry-emulator/main.ts`) with 0
 * accept and commit latency; the baseline is the bare hono process of the ingest benchmark, sent the
 * same bodies by the same client.
 */

const BATCH_SIZE = 1000;
const BATCHES_IN_FLIGHT = 4;
/** Status reads in flight, over as many keep-alive connections. */
const CONCURRENCY = 32;

export async function registryEmulator(): Promise<Figure[]> {
  const total = scaled(20_000, { min: 2 * BATCH_SIZE, step: BATCH_SIZE });
  const reads = scaled(20_000, { min: 2_000, step: 1_000 });
  console.log(
    `registry emulator: ${total} issue transactions in batches of ${BATCH_SIZE} (${BATCHES_IN_FLIGHT} in flight) until committed, ` +
      `${reads} status reads (${CONCURRENCY} in flight), ${ROUNDS} round(s) each`,
  );
  let emulator: NodeProcess | undefined;
  let hono: NodeProcess | undefined;
  const clients: HttpClient[] = [];
  try {
    emulator = await startRegistryEmulatorProcess();
    hono = await startNodeProcess({ label: "hono", script: "bench/baselines/hono-server.ts", readyPath: "/readyz", env: {} });
    const registry = new HttpClient(emulator.url, CONCURRENCY);
    const bare = new HttpClient(hono.url, CONCURRENCY);
    clients.push(registry, bare);
    const pids = { emulator: emulator.child.pid, hono: hono.child.pid };

    const submitRounds: Measurement[] = [];
    const bareSubmitRounds: Measurement[] = [];
    let lastRound: EncodedTransaction[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await registry.json("POST", "/_emulator/reset", 204, { token: ADMIN_TOKEN });
      lastRound = issues(total, round);
      const bodies = chunk(lastRound, BATCH_SIZE).map((batch) => JSON.stringify({ transactions: batch.map(({ bytes }) => ({ bytes })) }));
      submitRounds.push(await measure(pids, () => submitUntilCommitted(registry, bodies, total)));
      bareSubmitRounds.push(await measure(pids, () => postAll(bare, "/v1/notifications", bodies).then(() => total)));
    }
    const submitted = bestRound(submitRounds);
    const bareSubmitted = bestRound(bareSubmitRounds);
    const results = [
      figure({
        benchmark: "registry-emulator",
        name: "registry emulator: issue transactions committed/s (batches of 1,000, 0 latency)",
        unit: "tx/s",
        certflow: submitted.rate,
        baseline: bareSubmitted.rate,
        baselineName: "bare hono POST of the same bodies",
        better: "higher",
        details: { total, batchSize: BATCH_SIZE, batchesInFlight: BATCHES_IN_FLIGHT, rounds: { emulator: submitRounds, bare: bareSubmitRounds } },
      }),
    ];
    announce(results[0]!);

    const txIds = lastRound.map((tx) => tx.txId);
    const readRounds: Measurement[] = [];
    const bareReadRounds: Measurement[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      readRounds.push(await measure(pids, () => readStatuses(registry, txIds, reads)));
      bareReadRounds.push(
        await measure(pids, () => closedLoop(reads, CONCURRENCY, async () => void (await bare.json("GET", "/readyz", 200))).then(() => reads)),
      );
    }
    results.push(
      figure({
        benchmark: "registry-emulator",
        name: `registry emulator: status reads/s (${CONCURRENCY} in flight)`,
        unit: "req/s",
        certflow: bestRound(readRounds).rate,
        baseline: bestRound(bareReadRounds).rate,
        baselineName: "bare hono GET",
        better: "higher",
        details: { reads, concurrency: CONCURRENCY, rounds: { emulator: readRounds, bare: bareReadRounds } },
      }),
    );
    announce(results[1]!);
    return results;
  } finally {
    for (const client of clients) client.close();
    await Promise.all([emulator?.stop(), hono?.stop()]);
  }
}

/** Issue transactions of fresh certificates, built once, as a client builds them. */
function issues(count: number, round: number): EncodedTransaction[] {
  return Array.from({ length: count }, (_, index) => {
    const certificateId = `bench-${round}-${index}`;
    return encodeTransaction({
      header: { certificateId, type: "issue", commandId: `${certificateId}-issue`, nonce: String(index) },
      payload: { certificateId, quantityWh: 1_000_000, owner: "bench", kind: "hourly", version: 1 },
    });
  });
}

async function postAll(client: HttpClient, path: string, bodies: readonly string[]): Promise<void> {
  await closedLoop(bodies.length, BATCHES_IN_FLIGHT, async (index) => {
    const response = await client.request("POST", path, { body: bodies[index]! });
    if (response.status !== 202) throw new Error(`POST ${path} answered ${response.status}: ${response.text.slice(0, 300)}`);
  });
}

/** From the first POST until the emulator has committed every transaction. */
async function submitUntilCommitted(client: HttpClient, bodies: readonly string[], total: number): Promise<number> {
  let committed = 0;
  const stop = progress("emulator", () => `${committed}/${total} committed`, () => committed);
  try {
    await postAll(client, "/v1/transactions", bodies);
    for (;;) {
      const stats = await client.json<{ committed: number; failed: number }>("GET", "/_emulator/stats", 200, { token: ADMIN_TOKEN });
      committed = stats.committed;
      if (stats.failed > 0) throw new Error(`${stats.failed} issue transactions failed in the emulator`);
      if (committed >= total) return total;
      await sleep(10);
    }
  } finally {
    stop();
  }
}

async function readStatuses(client: HttpClient, txIds: readonly string[], reads: number): Promise<number> {
  await closedLoop(reads, CONCURRENCY, async (index) => {
    const { status } = await client.json<{ status: string }>("GET", `/v1/transactions/${txIds[index % txIds.length]}/status`, 200);
    if (status !== "committed") throw new Error(`a committed transaction read ${status}`);
  });
  return reads;
}
