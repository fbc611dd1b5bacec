import { createProducer, createSubscription, postBatch, pull, type Credential, type PulledMessage } from "./lib/certflow-api.js";
import { ADMIN_TOKEN, isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { chunk } from "./lib/measure.js";
import { makeInputs } from "./lib/payload.js";
import { progress } from "./lib/progress.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { distribution, formatNumber } from "./lib/stats.js";
import { PATH_SERVICES, startCertflow } from "./lib/system-process.js";

/**
 * Statements whose cost grows with the backlog (issue 10): a subscription's stats read beside
 * the same read of a subscription that never received anything, in the same process. Three
 * subscriptions get the same notifications: one acks them all (its latency quantiles cover
 * that many acks in the window), one rejects them all into dead letters, one never pulls (they
 * stay pending). Then the four subscriptions' `GET /v1/subscriptions/{name}` are timed in turn,
 * one request at a time.
 */

const BATCH_SIZE = 1000;
const READS = 300;

export async function backlog(): Promise<Figure[]> {
  const total = scaled(50_000, { min: 2_000, step: BATCH_SIZE });
  console.log(
    `backlog: ${formatNumber(total)} notifications into three subscriptions (one acks them, one dead-letters them, one never pulls) ` +
      `and none into a fourth; then ${READS} stats reads of each`,
  );
  const system = await startCertflow({ id: isolationId("backlog"), services: PATH_SERVICES });
  try {
    const client = new HttpClient(system.url, 8);
    const producer = await createProducer(client, "backlog-producer");
    const idle = await createIdleSubscription(client, "receives-nothing");
    const acking = await createSubscription(client, "acks-everything");
    const rejecting = await createSubscription(client, "rejects-everything");
    const waiting = await createSubscription(client, "pulls-nothing");
    for (const batch of chunk(makeInputs("backlog", total), BATCH_SIZE)) await postBatch(client, producer, batch);

    let acked = 0;
    let rejected = 0;
    const stop = progress("settling", () => `${formatNumber(acked)} acked, ${formatNumber(rejected)} dead-lettered of ${formatNumber(total)} each`);
    try {
      await Promise.all([
        settleAll(client, acking, "acks", total, (count) => (acked += count)),
        settleAll(client, rejecting, "rejects", total, (count) => (rejected += count)),
      ]);
    } finally {
      stop();
    }

    const reads = { idle: [] as number[], acked: [] as number[], dead: [] as number[], pending: [] as number[] };
    for (let read = 0; read < READS; read++) {
      reads.idle.push(await timedStats(client, idle, { deadLettered: 0, pending: 0 }));
      reads.acked.push(await timedStats(client, acking, { deadLettered: 0, pending: 0 }));
      reads.dead.push(await timedStats(client, rejecting, { deadLettered: total, pending: 0 }));
      reads.pending.push(await timedStats(client, waiting, { deadLettered: 0, pending: total }));
    }
    const baseline = distribution(reads.idle);
    const results = [
      { name: `stats read with ${formatNumber(total)} dead letters, p50`, measured: distribution(reads.dead) },
      { name: `stats read after ${formatNumber(total)} acks in the stats window, p50`, measured: distribution(reads.acked) },
      { name: `stats read with ${formatNumber(total)} messages pending, p50`, measured: distribution(reads.pending) },
    ].map(({ name, measured }) =>
      figure({
        benchmark: "backlog",
        name,
        unit: "ms",
        certflow: measured.p50,
        baseline: baseline.p50,
        baselineName: "the same read of a subscription that received nothing, same run",
        better: "lower",
        details: { notifications: total, reads: READS, measured, baseline },
      }),
    );
    results.forEach(announce);
    return results;
  } finally {
    await system.destroy();
  }
}

/** A subscription whose filter matches none of the benchmark's notifications. */
async function createIdleSubscription(client: HttpClient, name: string): Promise<Credential> {
  const body = await client.json("POST", "/v1/subscriptions", 201, {
    body: { name, filters: [{ types: ["certificate.withdrawn"] }] },
    token: ADMIN_TOKEN,
  });
  return { name, token: body.token as string };
}

/** Pulls and settles until `total` messages are settled. */
async function settleAll(client: HttpClient, subscription: Credential, verb: "acks" | "rejects", total: number, settled: (count: number) => void) {
  for (let done = 0; done < total; ) {
    const messages: PulledMessage[] = await pull(client, subscription, 500, 1);
    if (messages.length === 0) continue;
    const body = JSON.stringify({ ackIds: messages.map((message) => message.ackId) });
    const response = await client.request("POST", `/v1/subscriptions/${subscription.name}/${verb}`, { body, token: subscription.token });
    if (response.status !== 200) throw new Error(`${verb} answered ${response.status}: ${response.text.slice(0, 500)}`);
    done += messages.length;
    settled(messages.length);
  }
}

/** One stats read, in milliseconds; it must show the counts expected. */
async function timedStats(client: HttpClient, subscription: Credential, expected: { deadLettered: number; pending: number }): Promise<number> {
  const started = performance.now();
  const response = await client.request("GET", `/v1/subscriptions/${subscription.name}`, { token: subscription.token });
  const elapsed = performance.now() - started;
  if (response.status !== 200) throw new Error(`stats answered ${response.status}: ${response.text.slice(0, 500)}`);
  const stats = (JSON.parse(response.text) as { stats: { deadLettered: number; pending: number } }).stats;
  if (stats.deadLettered !== expected.deadLettered || stats.pending !== expected.pending) {
    throw new Error(`${subscription.name} shows ${JSON.stringify(stats)}, expected ${JSON.stringify(expected)}`);
  }
  return elapsed;
}
