import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { PREFILL_MARKER_SUBJECT, type AppendLiveInput, type JournalEntry } from "../ledger.js";
import { LeaseLostError } from "../../cluster/leases.js";
import { leaseFence } from "../../cluster/postgres-leases.js";
import { LIVE, PREFILL, readerShard } from "./sql.js";

export async function position(db: Executor, reader: string): Promise<number> {
  const row = await db.selectFrom("consumer_positions").select("seq").where("name", "=", reader).executeTakeFirst();
  return row?.seq ?? 0;
}

/**
 * One statement, so one transaction: journal, deliveries, pending counts and position commit
 * together or not at all. A notification already journaled (a redelivery, or the same id
 * beyond the broker's duplicate window) creates no delivery.
 *
 * A subject's first new message is inserted as its head unless the subscription already has a
 * live head for that subject (the unique index `deliveries_one_live_head` decides); then that
 * head is locked instead (`DO UPDATE ... WHERE false` locks without writing) and the message
 * queues behind it. Whoever finishes a head holds the same lock, so either it sees these rows
 * when it promotes a successor, or this insert sees its promotion (or no head, and becomes one).
 * Heads are locked in (subscription, subject) order, the order finishers lock them in too.
 *
 * Each subscription of the batch is share-locked once (instead of a foreign-key check per
 * row): one being deleted meanwhile either waits for this batch and then removes its rows, or
 * is gone and gets none.
 */
export async function appendLive(db: Executor, input: AppendLiveInput): Promise<Map<string, number>> {
  const { entries, deliveries } = input;
  // The reader's lease is checked (and share-locked) in the same statement: a stale owner writes nothing.
  const result = await sql<{ subscription_id: string | null; created: number }>`
    WITH fence AS (${leaseFence(input.lease)}), journaled AS (
      INSERT INTO notifications (seq, id, type, subject, source_name, parent_id, correlation_id, time, envelope)
      SELECT * FROM json_to_recordset(${journalRows(entries)}::json) AS t(
        seq bigint, id uuid, type text, subject text, source_name text, parent_id uuid, correlation_id uuid,
        time timestamptz, envelope json)
      WHERE EXISTS (SELECT 1 FROM fence)
      ON CONFLICT DO NOTHING
      RETURNING seq
    ), subscribed AS (
      SELECT s.id FROM subscriptions s WHERE s.id = ANY(${[...new Set(deliveries.map((delivery) => delivery.subscriptionId))]}::uuid[])
      ORDER BY s.id
      FOR KEY SHARE
    ), wanted AS (
      SELECT d.subscription_id, d.seq, d.subject
      FROM unnest(
        ${deliveries.map((delivery) => delivery.subscriptionId)}::uuid[],
        ${deliveries.map((delivery) => delivery.seq)}::bigint[],
        ${deliveries.map((delivery) => delivery.subject)}::text[]
      ) AS d(subscription_id, seq, subject)
      WHERE d.seq IN (SELECT seq FROM journaled) AND d.subscription_id IN (SELECT id FROM subscribed)
    ), heads AS (
      INSERT INTO deliveries (subscription_id, phase, seq, subject, is_head)
      SELECT subscription_id, ${LIVE}, seq, subject, true FROM (
        SELECT DISTINCT ON (subscription_id, subject) subscription_id, seq, subject FROM wanted ORDER BY subscription_id, subject, seq
      ) first ORDER BY subscription_id, subject
      ON CONFLICT (subscription_id, subject) WHERE is_head AND phase = ${LIVE} DO UPDATE SET is_head = true WHERE false
      RETURNING subscription_id, seq
    ), queued AS (
      INSERT INTO deliveries (subscription_id, phase, seq, subject, is_head)
      SELECT w.subscription_id, ${LIVE}, w.seq, w.subject, false FROM wanted w
      -- NOT IN, for a hashed look-up: PostgreSQL takes these CTEs for one row each and would
      -- otherwise join them in a nested loop, every wanted row against every head.
      WHERE (w.subscription_id, w.seq) NOT IN (SELECT h.subscription_id, h.seq FROM heads h)
    ), counted AS (
      INSERT INTO subscription_stats (subscription_id, shard, queued)
      SELECT subscription_id, ${readerShard(input.reader)}, count(*) FROM wanted GROUP BY subscription_id ORDER BY subscription_id
      ON CONFLICT (subscription_id, shard) DO UPDATE SET queued = subscription_stats.queued + EXCLUDED.queued
    ), moved AS (
      INSERT INTO consumer_positions (name, seq) SELECT ${input.reader}, ${input.position} WHERE EXISTS (SELECT 1 FROM fence)
      ON CONFLICT (name) DO UPDATE SET seq = GREATEST(consumer_positions.seq, EXCLUDED.seq)
    )
    SELECT subscription_id, count(*)::int AS created FROM wanted GROUP BY subscription_id
    UNION ALL SELECT NULL, -1 WHERE NOT EXISTS (SELECT 1 FROM fence)
  `.execute(db);
  if (input.lease && result.rows.some((row) => row.subscription_id === null)) throw new LeaseLostError(input.lease);
  return new Map(result.rows.map((row) => [row.subscription_id!, row.created]));
}

/** One page of a snapshot: rows of (subject, payload), in the order they are to be delivered. */
export type SnapshotPage = RawBuilder<{ subject: string; payload: unknown }>;

/**
 * Queues a page of prefill messages after the `after` already queued, numbered on from it.
 * Prefill messages are one per subject, so each is its own head.
 */
export async function appendSnapshot(
  db: Executor,
  subscriptionId: string,
  after: number,
  page: SnapshotPage,
): Promise<{ copied: number; last: string | null }> {
  const result = await sql<{ copied: number; last: string | null }>`
    WITH page AS (${page}), copied AS (
      INSERT INTO deliveries (subscription_id, phase, seq, subject, is_head, payload)
      SELECT ${subscriptionId}, ${PREFILL}, ${after}::bigint + row_number() OVER (ORDER BY subject), subject, true, payload
      FROM page
    )
    SELECT count(*)::int AS copied, max(subject) AS last FROM page
  `.execute(db);
  return result.rows[0]!;
}

/**
 * The prefill's boundary marker, last of its rows (also when none matched). The lease hands it
 * out only once every snapshot is finished, and live messages only after it.
 */
export async function appendPrefillMarker(db: Executor, subscriptionId: string, seq: number): Promise<void> {
  await sql`
    INSERT INTO deliveries (subscription_id, phase, seq, subject, is_head)
    VALUES (${subscriptionId}, ${PREFILL}, ${seq}, ${PREFILL_MARKER_SUBJECT}, true)
  `.execute(db);
}

/**
 * The batch as one JSON document, each envelope spliced in as it was received: cheaper to send
 * and to read than nine parallel arrays, whose every element would be quoted and escaped.
 */
function journalRows(entries: readonly JournalEntry[]): string {
  const rows = entries.map(
    (entry) =>
      `{"seq":${entry.seq},"id":${JSON.stringify(entry.id)},"type":${JSON.stringify(entry.type)},` +
      `"subject":${JSON.stringify(entry.subject)},"source_name":${JSON.stringify(entry.sourceName)},` +
      `"parent_id":${JSON.stringify(entry.parentId)},"correlation_id":${JSON.stringify(entry.correlationId)},` +
      `"time":${JSON.stringify(entry.time)},"envelope":${entry.json}}`,
  );
  return `[${rows.join(",")}]`;
}
