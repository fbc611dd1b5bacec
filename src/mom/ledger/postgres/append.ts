import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { preparedFor } from "../../../core/db/prepared.js";
import { PREFILL_MARKER_SUBJECT, type AppendLiveInput, type AppendLiveOutcome, type JournalEntry, type ReaderBatch } from "../ledger.js";
import { LIVE, PREFILL, addToCounters, readerShard, settleShard } from "./sql.js";

export async function position(db: Executor, reader: string): Promise<number> {
  const row = await db.selectFrom("consumer_positions").select("seq").where("name", "=", reader).executeTakeFirst();
  return row?.seq ?? 0;
}

/**
 * One statement, so one transaction, for the batches of every reader that has one ready: journal,
 * deliveries, pending counts and positions commit together or not at all. A notification already
 * journaled (a redelivery, or the same id beyond the broker's duplicate window) creates no delivery.
 *
 * The statement writes only with the subscriptions' revision the deliveries were routed with
 * (else it reports them stale and writes nothing), so a subscription committed before its 201 is
 * routed for every notification read after it, without a revision read of its own before each batch.
 * The revision row is share-locked, and checked before any other lock is taken: a subscription
 * change (which moves the revision first of all) waits for the appends routed without it, and an
 * append that waited for the change re-reads the moved revision and reports itself stale. So once
 * a change has committed, nothing routed without it commits any more: the journal's head then
 * bounds what the new subscription missed, which is what its prefill must cover.
 * A reader's batch is written only while its lease is held (share-locked, in name order as the
 * renewal locks them): a stale owner writes nothing, and the other readers' batches go on.
 *
 * A subject's first new message is inserted as its head unless the subscription already has a
 * live head for that subject (the unique index `deliveries_one_live_head` decides); then that
 * head is locked instead, marked as followed (`has_queued`; already marked, it is locked without
 * a write), and the message queues behind it. Whoever finishes a head holds the same lock, so either it sees these rows
 * when it promotes a successor, or this insert sees its promotion (or no head, and becomes one).
 * Heads are locked in (subscription, subject) order, the order finishers lock them in too. A
 * subject belongs to one reader, so no two batches of a statement share a head.
 *
 * Each subscription of the batches is share-locked once (instead of a foreign-key check per
 * row): one being deleted meanwhile either waits for this statement and then removes its rows,
 * or is gone and gets none.
 */
export async function appendLive(db: Executor, input: AppendLiveInput): Promise<AppendLiveOutcome> {
  const batches = [...input.batches].sort((a, b) => (a.reader < b.reader ? -1 : a.reader > b.reader ? 1 : 0));
  const deliveries = batches.flatMap((batch, index) => batch.deliveries.map((delivery) => ({ ...delivery, batch: index })));
  const result = await sql<{ subscription_id: string | null; created: number; lost: number | null }>`${preparedFor(deliveries.length + batches.reduce((sum, batch) => sum + batch.entries.length, 0))}
    WITH routed AS (
      SELECT 1 FROM subscription_changes WHERE revision = ${input.routedRevision} FOR SHARE
    ), batch AS (
      SELECT * FROM unnest(
        ${batches.map((_, index) => index)}::int[],
        ${batches.map((batch) => batch.reader)}::text[],
        ${batches.map((batch) => batch.position)}::bigint[],
        ${batches.map((batch) => batch.lease?.owner ?? null)}::text[],
        ${batches.map((batch) => batch.lease?.epoch ?? null)}::bigint[],
        ${batches.map((batch) => readerShard(batch.reader))}::int[]
      ) AS b(idx, reader, position, owner, epoch, shard)
    ), held AS (
      SELECT w.name, w.owner, w.epoch FROM work_leases w
      WHERE w.name = ANY(${batches.filter((batch) => batch.lease).map((batch) => batch.reader)}::text[])
      ORDER BY w.name
      FOR SHARE
    ), fenced AS (
      SELECT b.idx, b.reader, b.position, b.shard FROM batch b
      WHERE EXISTS (SELECT 1 FROM routed)
        AND (b.owner IS NULL OR EXISTS (SELECT 1 FROM held h WHERE h.name = b.reader AND h.owner = b.owner AND h.epoch = b.epoch))
    ), journaled AS (
      INSERT INTO notifications (seq, id, type, subject, source_name, parent_id, correlation_id, time, envelope)
      SELECT t.seq, t.id, t.type, t.subject, t.source_name, t.parent_id, t.correlation_id, t.time, t.envelope
      FROM json_to_recordset(${journalRows(batches)}::json) AS t(
        batch int, seq bigint, id uuid, type text, subject text, source_name text, parent_id uuid, correlation_id uuid,
        time timestamptz, envelope json)
      WHERE t.batch IN (SELECT idx FROM fenced)
      ON CONFLICT DO NOTHING
      RETURNING seq
    ), subscribed AS (
      SELECT s.id FROM subscriptions s WHERE EXISTS (SELECT 1 FROM routed) AND s.id = ANY(${[...new Set(deliveries.map((delivery) => delivery.subscriptionId))]}::uuid[])
      ORDER BY s.id
      FOR KEY SHARE
    ), wanted AS (
      SELECT d.subscription_id, d.seq, d.subject, f.shard
      FROM unnest(
        ${deliveries.map((delivery) => delivery.subscriptionId)}::uuid[],
        ${deliveries.map((delivery) => delivery.seq)}::bigint[],
        ${deliveries.map((delivery) => delivery.subject)}::text[],
        ${deliveries.map((delivery) => delivery.batch)}::int[]
      ) AS d(subscription_id, seq, subject, batch)
      JOIN fenced f ON f.idx = d.batch
      WHERE d.seq IN (SELECT seq FROM journaled) AND d.subscription_id IN (SELECT id FROM subscribed)
    ), heads AS (
      INSERT INTO deliveries (subscription_id, phase, seq, subject, is_head, has_queued)
      SELECT subscription_id, ${LIVE}, seq, subject, true, followed FROM (
        SELECT DISTINCT ON (subscription_id, subject) subscription_id, seq, subject,
          count(*) OVER (PARTITION BY subscription_id, subject) > 1 AS followed
        FROM wanted ORDER BY subscription_id, subject, seq
      ) first ORDER BY subscription_id, subject
      ON CONFLICT (subscription_id, subject) WHERE is_head AND phase = ${LIVE}
        DO UPDATE SET has_queued = true WHERE NOT deliveries.has_queued
      RETURNING subscription_id, seq
    ), queued AS (
      INSERT INTO deliveries (subscription_id, phase, seq, subject, is_head)
      SELECT w.subscription_id, ${LIVE}, w.seq, w.subject, false FROM wanted w
      -- NOT IN, for a hashed look-up: PostgreSQL takes these CTEs for one row each and would
      -- otherwise join them in a nested loop, every wanted row against every head.
      WHERE (w.subscription_id, w.seq) NOT IN (SELECT h.subscription_id, h.seq FROM heads h)
    ), counted AS (
      INSERT INTO subscription_stats (subscription_id, shard, queued, last_queued_seq)
      SELECT subscription_id, shard, count(*), max(seq) FROM wanted GROUP BY subscription_id, shard ORDER BY subscription_id, shard
      ${addToCounters("queued", "last_queued_seq")}
    ), moved AS (
      INSERT INTO consumer_positions (name, seq) SELECT reader, position FROM fenced
      ON CONFLICT (name) DO UPDATE SET seq = GREATEST(consumer_positions.seq, EXCLUDED.seq)
    )
    SELECT subscription_id, count(*)::int AS created, NULL::int AS lost FROM wanted GROUP BY subscription_id
    UNION ALL SELECT NULL, 0, b.idx FROM batch b WHERE EXISTS (SELECT 1 FROM routed) AND b.idx NOT IN (SELECT idx FROM fenced)
    UNION ALL SELECT NULL, -1, NULL WHERE NOT EXISTS (SELECT 1 FROM routed)
  `.execute(db);
  if (result.rows.some((row) => row.created === -1)) return { stale: true };
  const created = new Map<string, number>();
  const lostReaders = new Set<string>();
  for (const row of result.rows) {
    if (row.subscription_id !== null) created.set(row.subscription_id, row.created);
    else if (row.lost !== null) lostReaders.add(batches[row.lost]!.reader);
  }
  return { stale: false, created, lostReaders };
}

/** The highest journaled sequence: everything the dispatcher has appended is at or below it. */
export async function journaledThrough(db: Executor): Promise<number> {
  const row = await db.selectFrom("notifications").select((eb) => eb.fn.max("seq").as("seq")).executeTakeFirst();
  return Number(row?.seq ?? 0);
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
    ), counted AS (
      ${countPrefillQueued(subscriptionId, sql`(SELECT count(*) FROM page)`)}
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
    WITH marker AS (
      INSERT INTO deliveries (subscription_id, phase, seq, subject, is_head)
      VALUES (${subscriptionId}, ${PREFILL}, ${seq}, ${PREFILL_MARKER_SUBJECT}, true)
    )
    ${countPrefillQueued(subscriptionId, sql`1`)}
  `.execute(db);
}

/** Prefill messages are counted as they are queued, in the snapshot's transaction, so they show when it commits. */
const countPrefillQueued = (subscriptionId: string, count: RawBuilder<unknown>) => sql`
  INSERT INTO subscription_stats (subscription_id, shard, prefill_pending)
  SELECT ${subscriptionId}, ${settleShard()}, ${count} WHERE ${count} > 0
  ${addToCounters("prefill_pending")}
`;

/**
 * The batch as one JSON document, each envelope spliced in as it was received: cheaper to send
 * and to read than nine parallel arrays, whose every element would be quoted and escaped.
 */
function journalRows(batches: readonly ReaderBatch[]): string {
  const rows = batches.flatMap((batch, index) => batch.entries.map((entry) => journalRow(index, entry)));
  return `[${rows.join(",")}]`;
}

const journalRow = (batch: number, entry: JournalEntry) =>
  `{"batch":${batch},"seq":${entry.seq},"id":${JSON.stringify(entry.id)},"type":${JSON.stringify(entry.type)},` +
  `"subject":${JSON.stringify(entry.subject)},"source_name":${JSON.stringify(entry.sourceName)},` +
  `"parent_id":${JSON.stringify(entry.parentId)},"correlation_id":${JSON.stringify(entry.correlationId)},` +
  `"time":${JSON.stringify(entry.time)},"envelope":${entry.json}}`;
