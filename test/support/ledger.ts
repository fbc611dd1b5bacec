import { sql, type Kysely } from "kysely";
import { expect } from "vitest";
import type { Database } from "../../src/core/db/schema.js";
import { uuidv7 } from "../../src/core/ids.js";
import { PHASE_CODE, type JournalEntry } from "../../src/mom/ledger/ledger.js";

/**
 * The ledger's invariant, checked from its tables: every (subscription, subject) with pending
 * live rows has exactly one head, its lowest pending row; no finished row is a head; every
 * pending prefill row is its own head; a head with messages queued behind it says so
 * (`has_queued`); every row belongs to a subscription that exists; the counters the stats read
 * agree with the rows. Run at the end of every concurrency test, once the
 * system is quiet (or stopped).
 */
export async function expectOneHeadPerSubject(db: Kysely<Database>, subscriptionIds?: readonly string[]): Promise<void> {
  const only = subscriptionIds ? sql`AND subscription_id = ANY(${[...subscriptionIds]}::uuid[])` : sql``;
  const wrongHeads = await sql<{ subscription_id: string; subject: string; heads: number; head_seq: number | null; first_seq: number }>`
    SELECT subscription_id, subject, count(*) FILTER (WHERE is_head)::int AS heads,
      min(seq) FILTER (WHERE is_head) AS head_seq, min(seq) AS first_seq
    FROM deliveries
    WHERE state = 'pending' AND phase = ${PHASE_CODE.live} ${only}
    GROUP BY subscription_id, subject
    HAVING count(*) FILTER (WHERE is_head) <> 1 OR min(seq) FILTER (WHERE is_head) <> min(seq)
    LIMIT 10
  `.execute(db);
  expect(wrongHeads.rows, "subjects without exactly one head at their first pending message").toEqual([]);
  const strayHeads = await sql<{ subscription_id: string; phase: number; seq: number; state: string }>`
    SELECT subscription_id, phase, seq, state FROM deliveries
    WHERE ((is_head AND state <> 'pending') OR (NOT is_head AND state = 'pending' AND phase = ${PHASE_CODE.prefill})) ${only}
    LIMIT 10
  `.execute(db);
  expect(strayHeads.rows, "finished heads, or pending prefill messages that are not heads").toEqual([]);
  // Finishing a head looks for its successor only when the head says something may follow it.
  const unmarkedHeads = await sql<{ subscription_id: string; subject: string; seq: number }>`
    SELECT h.subscription_id, h.subject, h.seq FROM deliveries h
    WHERE h.is_head AND h.phase = ${PHASE_CODE.live} AND h.state = 'pending' AND NOT h.has_queued ${only}
      AND EXISTS (
        SELECT 1 FROM deliveries q
        WHERE q.subscription_id = h.subscription_id AND q.subject = h.subject AND q.phase = ${PHASE_CODE.live}
          AND q.state = 'pending' AND NOT q.is_head
      )
    LIMIT 10
  `.execute(db);
  expect(unmarkedHeads.rows, "heads with messages queued behind them that do not say so").toEqual([]);
  // The counters the stats read move in the same statements as the rows they count.
  const miscounted = await sql<{
    id: string;
    live: number;
    counted_live: number;
    dead: number;
    counted_dead: number;
    prefill: number;
    counted_prefill: number;
    last: number | null;
    counted_last: number | null;
  }>`
    SELECT s.id,
      (SELECT count(*) FROM deliveries d WHERE d.subscription_id = s.id AND d.state = 'pending' AND d.phase = ${PHASE_CODE.live})::int AS live,
      (SELECT COALESCE(sum(c.queued - c.settled), 0) FROM subscription_stats c WHERE c.subscription_id = s.id)::int AS counted_live,
      (SELECT count(*) FROM deliveries d WHERE d.subscription_id = s.id AND d.state = 'dead')::int AS dead,
      (SELECT COALESCE(sum(c.dead), 0) FROM subscription_stats c WHERE c.subscription_id = s.id)::int AS counted_dead,
      (SELECT count(*) FROM deliveries d WHERE d.subscription_id = s.id AND d.state = 'pending' AND d.phase = ${PHASE_CODE.prefill})::int AS prefill,
      (SELECT COALESCE(sum(c.prefill_pending), 0) FROM subscription_stats c WHERE c.subscription_id = s.id)::int AS counted_prefill,
      (SELECT max(d.seq) FROM deliveries d WHERE d.subscription_id = s.id AND d.phase = ${PHASE_CODE.live})::float8 AS last,
      (SELECT max(c.last_queued_seq) FROM subscription_stats c WHERE c.subscription_id = s.id)::float8 AS counted_last
    FROM subscriptions s
    WHERE true ${subscriptionIds ? sql`AND s.id = ANY(${[...subscriptionIds]}::uuid[])` : sql``}
  `.execute(db);
  const wrongCounts = miscounted.rows.filter(
    (row) =>
      row.live !== row.counted_live ||
      row.dead !== row.counted_dead ||
      row.prefill !== row.counted_prefill ||
      // Retention may have taken the newest rows; the counter keeps what was queued.
      (row.last !== null && (row.counted_last === null || row.counted_last < row.last)),
  );
  expect(wrongCounts, "subscriptions whose pending, dead-letter, prefill or last-queued counters differ from their rows").toEqual([]);
  // No foreign key keeps these: a subscription's deletion removes its rows, and the append skips deleted ones.
  const orphans = await sql<{ subscription_id: string }>`
    SELECT DISTINCT subscription_id FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = d.subscription_id) ${only}
    LIMIT 10
  `.execute(db);
  expect(orphans.rows, "deliveries of subscriptions that no longer exist").toEqual([]);
}

/** A journal entry as the dispatcher hands it to the ledger, for tests that append without one. */
export function journalEntry(seq: number, subject: string): JournalEntry {
  const id = uuidv7();
  return {
    seq,
    id,
    type: "certificate.issued",
    subject,
    sourceName: "test",
    parentId: null,
    correlationId: id,
    time: new Date().toISOString(),
    json: JSON.stringify({ id, type: "certificate.issued", subject, data: {} }),
  };
}
