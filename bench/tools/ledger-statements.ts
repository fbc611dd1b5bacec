/**
 * Diagnostic, not a benchmark: times certflow's ledger statements on their own, against a fresh
 * schema, to tell how much of the dispatcher's and the pull/ack loop's time is the database, and
 * how it grows with a subscription's backlog and with finished rows not yet vacuumed.
 * Run: npx tsx bench/tools/ledger-statements.ts   (EXPLAIN=1 prints the plans of one append, one lease and one ack;
 * NESTLOOP_OFF=1 runs every statement with enable_nestloop=off)
 */
import { randomUUID } from "node:crypto";
import { ensureDatabase, openDatabase } from "../../src/core/db/database.js";
import { migrateToLatest } from "../../src/core/db/migrate.js";
import { uuidv7 } from "../../src/core/ids.js";
import { createLogger } from "../../src/core/logger.js";
import { PostgresSubscriptionDirectory } from "../../src/dispatcher/subscription-directory.js";
import type { JournalEntry, LeaseTarget } from "../../src/mom/ledger/ledger.js";
import { PostgresDeliveryLedger } from "../../src/mom/ledger/postgres-ledger.js";
import { dropSchema } from "../lib/cleanup.js";
import { DATABASE_URL, isolationId } from "../lib/env.js";
import { distribution, formatNumber } from "../lib/stats.js";

const schema = isolationId("stmts");
const config = { url: DATABASE_URL, schema, poolSize: 16 };
await ensureDatabase(config);
const database = openDatabase(config);
// NESTLOOP_OFF=1 shows what the plans cost without nested loops over CTEs (whose rows PostgreSQL estimates at 1).
if (process.env.NESTLOOP_OFF) database.pool.options.options += " -c enable_nestloop=off";
const BACKLOG = Number(process.env.BACKLOG ?? 20_000);

try {
  await migrateToLatest(database.db, schema, createLogger("warn"));
  const ledger = new PostgresDeliveryLedger(database.db);
  const directory = new PostgresSubscriptionDirectory(database.db);
  const subscriptionId = uuidv7();
  // Only columns every version of the schema has so far.
  await database.pool.query(
    `INSERT INTO subscriptions (id, name, filters, delivery, request_fingerprint, ack_timeout_seconds, max_deliveries, start_seq,
       prefill_enabled, token_hash)
     VALUES ($1, 'stmts', '[{"types":["*"]}]', '{"mode":"pull"}', 'x', 30, 5, 1, false, $2)`,
    [subscriptionId, randomUUID()],
  );
  const target: LeaseTarget = { id: subscriptionId, ackTimeoutSeconds: 30, maxDeliveries: 5, liveFromSeq: 1 };
  let seq = 0;
  const entry = (): JournalEntry => {
    const id = uuidv7();
    const subject = `cert-${++seq}`;
    const envelope = { id, type: "certificate.issued", subject, data: { certificateId: subject, quantityWh: 1 } };
    return {
      seq, id, type: "certificate.issued", subject, sourceName: "p", parentId: null, correlationId: id,
      time: new Date().toISOString(), json: JSON.stringify(envelope),
    };
  };
  const append = (size: number) => async () => {
    const entries = Array.from({ length: size }, entry);
    await ledger.appendLive({
      routedRevision: 0,
      batches: [{ reader: `dispatcher.${seq % 8}`, position: seq, entries, deliveries: entries.map((e) => ({ subscriptionId, seq: e.seq, subject: e.subject })) }],
    });
  };
  const pending = async () =>
    Number((await database.pool.query(`SELECT count(*) FROM deliveries WHERE state = 'pending'`)).rows[0].count);
  const finished = async () =>
    Number((await database.pool.query(`SELECT count(*) FROM deliveries WHERE state <> 'pending'`)).rows[0].count);

  async function time(label: string, runs: number, concurrency: number, run: () => Promise<unknown>) {
    const samples: number[] = [];
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < runs) {
          const began = performance.now();
          await run();
          samples.push(performance.now() - began);
        }
      }),
    );
    const wall = performance.now() - started;
    const d = distribution(samples);
    console.log(
      `${label.padEnd(60)} ${formatNumber(runs / (wall / 1000)).padStart(6)}/s  p50 ${d.p50.toFixed(2)} ms  p99 ${d.p99.toFixed(2)} ms  (${concurrency} concurrent)`,
    );
  }

  console.log("-- dispatcher statements (empty ledger)");
  await time("warm-up", 200, 1, append(2));
  await time("subscriptions snapshot (routing reload)", 1000, 1, () => directory.snapshot());
  await time("appendLive, 2 notifications", 500, 1, append(2));
  await time("appendLive, 2 notifications", 1000, 8, append(2));
  await time("appendLive, 20 notifications", 200, 1, append(20));
  await time("appendLive, 100 notifications", 100, 1, append(100));
  await time("appendLive, 500 notifications", 20, 1, append(500));

  console.log(`\n-- lease 500 + ack 500 while the backlog drains from ${BACKLOG}`);
  // Drain what the above made, then build the backlog.
  for (;;) {
    const { messages } = await ledger.lease(target, 1000);
    if (messages.length === 0) break;
    await ledger.ack(subscriptionId, messages.map((m) => m.ackId));
  }
  for (let made = 0; made < BACKLOG; made += 500) await append(500)();
  for (let round = 0; ; round++) {
    const backlog = await pending();
    const leaseStarted = performance.now();
    const { messages } = await ledger.lease(target, 500);
    const leaseMs = performance.now() - leaseStarted;
    if (messages.length === 0) break;
    const ackStarted = performance.now();
    await ledger.ack(subscriptionId, messages.map((m) => m.ackId));
    const ackMs = performance.now() - ackStarted;
    if (round % Math.max(1, Math.floor(BACKLOG / 500 / 5)) === 0 || backlog <= 500) {
      console.log(`backlog ${String(backlog).padStart(6)}: lease of ${messages.length} ${leaseMs.toFixed(1)} ms, ack of ${messages.length} ${ackMs.toFixed(1)} ms`);
    }
  }

  console.log(`\n-- empty queue, ${await finished()} finished rows not yet vacuumed`);
  await time("lease (nothing to lease)", 200, 1, () => ledger.lease(target, 500));
  await database.pool.query("VACUUM ANALYZE deliveries");
  console.log("-- after VACUUM ANALYZE deliveries");
  await time("lease (nothing to lease)", 200, 1, () => ledger.lease(target, 500));

  if (process.env.EXPLAIN) {
    // The same ledger over a connection whose plans auto_explain reports back as notices.
    const explaining = openDatabase({ ...config, poolSize: 1 });
    explaining.pool.options.options +=
      " -c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on" +
      " -c auto_explain.log_buffers=on -c auto_explain.log_level=notice";
    explaining.pool.on("connect", (client) => client.on("notice", (notice) => console.log(notice.message)));
    const explained = new PostgresDeliveryLedger(explaining.db);
    try {
      await database.pool.query("TRUNCATE deliveries, subscription_stats, notifications");
      seq = 0;
      for (let made = 0; made < BACKLOG - 500; made += 500) await append(500)();
      console.log(`\n--- append of 500, backlog ${BACKLOG - 500}`);
      const entries = Array.from({ length: 500 }, entry);
      await explained.appendLive({
        routedRevision: 0,
        batches: [{ reader: "dispatcher.0", position: seq, entries, deliveries: entries.map((e) => ({ subscriptionId, seq: e.seq, subject: e.subject })) }],
      });
      console.log(`\n--- lease of 500, backlog ${BACKLOG}`);
      const { messages } = await explained.lease(target, 500);
      console.log(`\n--- ack of 500, backlog ${BACKLOG - 500}`);
      await explained.ack(subscriptionId, messages.map((m) => m.ackId));
    } finally {
      await explaining.close();
    }
  }
} finally {
  await database.close();
  await dropSchema(schema);
}
