import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import type { Matchable } from "../../../core/filters.js";
import { LIVE, addToCounters, retryOnDeadlock, settleShard } from "./sql.js";

export interface RewindRequest {
  subscriptionId: string;
  /** First stream sequence to deliver again (already clamped to what the subscription may receive). */
  fromSeq: number;
  /** The subscription's filters, evaluated again against the journal. */
  matches: (notification: Matchable) => boolean;
}

export interface RewindResult {
  fromSequence: number;
  /** Notifications queued again (or for the first time, where the filters now match). */
  requeued: number;
  /** Leases in flight that the rewind expired: their ack ids answer `expired`, the messages come again in order. */
  expiredLeases: number;
}

const PAGE = 5000;

/** The journal sequence at or after which notifications were accepted from `time` on. */
export async function sequenceAt(db: Executor, time: Date): Promise<number | undefined> {
  const row = await sql<{ seq: number | null }>`SELECT min(seq) AS seq FROM notifications WHERE accepted_at >= ${time}`.execute(db);
  return row.rows[0]?.seq ?? undefined;
}

/**
 * Queues every journaled notification from `fromSeq` on that the subscription's filters match
 * again, acked and dead-lettered ones included, in one transaction that keeps the ledger's
 * invariant (one live head per subject, its lowest pending row, kept by a unique index):
 *
 * 1. lock the subscription's rows from `fromSeq` on, so no settle of them runs meanwhile;
 * 2. read the journal from `fromSeq` to its end and match the filters;
 * 3. lock the subjects' current heads, in subject order as everyone locks them: the dispatcher
 *    queues behind a head only under that lock, so what it adds later comes after the rewound
 *    rows (one that makes a new head at the same moment meets the unique index; we retry);
 * 4. make the matched rows pending with a fresh attempt budget; a lease in flight is expired by
 *    counting it as a delivery, so its ack id no longer settles anything (no message is both
 *    acked and lost, none handed out twice after the rewind); rows not pending before count as
 *    queued again;
 * 5. give each subject its lowest pending row as its only head (old heads first step down, so
 *    the unique index never sees two).
 * Rows before `fromSeq` are not touched: a lease on one of them stays good.
 */
export async function rewind(db: Executor, request: RewindRequest): Promise<RewindResult> {
  return retryOnDeadlock(() => db.transaction().execute((trx) => rewindOnce(trx, request)), true);
}

async function rewindOnce(trx: Executor, { subscriptionId, fromSeq, matches }: RewindRequest): Promise<RewindResult> {
  await sql`
    SELECT 1 FROM deliveries d WHERE d.phase = ${LIVE} AND d.seq >= ${fromSeq} AND d.subscription_id = ${subscriptionId}
    ORDER BY d.seq FOR UPDATE
  `.execute(trx);

  const seqs: number[] = [];
  const subjects: string[] = [];
  for (let after = fromSeq - 1; ; ) {
    const page = await sql<{ seq: number; subject: string; type: string; data: Matchable["data"] }>`
      SELECT seq, subject, type, envelope->'data' AS data FROM notifications
      WHERE seq > ${after} ORDER BY seq LIMIT ${PAGE}
    `.execute(trx);
    for (const row of page.rows) {
      if (!matches({ type: row.type, data: row.data ?? {} })) continue;
      seqs.push(row.seq);
      subjects.push(row.subject);
    }
    if (page.rows.length < PAGE) break;
    after = page.rows[page.rows.length - 1]!.seq;
  }
  if (seqs.length === 0) return { fromSequence: fromSeq, requeued: 0, expiredLeases: 0 };
  const distinctSubjects = [...new Set(subjects)].sort();

  await sql`
    SELECT 1 FROM deliveries d
    WHERE d.subscription_id = ${subscriptionId} AND d.subject = ANY(${distinctSubjects}::text[]) AND d.phase = ${LIVE} AND d.is_head
    ORDER BY d.subject
    FOR UPDATE
  `.execute(trx);

  const before = await sql<{ leased: number; pending: number; dead: number }>`
    SELECT count(*) FILTER (WHERE ${inFlight})::int AS leased, count(*) FILTER (WHERE d.state = 'pending')::int AS pending,
      count(*) FILTER (WHERE d.state = 'dead')::int AS dead
    FROM deliveries d
    WHERE d.phase = ${LIVE} AND d.seq = ANY(${seqs}::bigint[]) AND d.subscription_id = ${subscriptionId}
  `.execute(trx);
  const requeued = await sql`
    INSERT INTO deliveries AS d (subscription_id, phase, seq, subject, state, is_head)
    SELECT ${subscriptionId}, ${LIVE}, r.seq, r.subject, 'pending', false FROM unnest(${seqs}::bigint[], ${subjects}::text[]) AS r(seq, subject)
    ON CONFLICT (phase, seq, subscription_id) DO UPDATE SET
      state = 'pending', finished_at = NULL, dead_reason = NULL, available_at = now(),
      delivery_count = d.delivery_count + (${inFlight})::int,
      replay_base = d.delivery_count + (${inFlight})::int
  `.execute(trx);
  const queuedAgain = seqs.length - (before.rows[0]?.pending ?? 0);
  const deadRevived = before.rows[0]?.dead ?? 0;
  // Filters changed since may match notifications the subscription never had, newer than its last.
  if (queuedAgain > 0) {
    await sql`
      INSERT INTO subscription_stats (subscription_id, shard, queued, dead, last_queued_seq)
      VALUES (${subscriptionId}, ${settleShard()}, ${queuedAgain}, ${-deadRevived}, ${seqs[seqs.length - 1]!})
      ${addToCounters("queued", "dead", "last_queued_seq")}
    `.execute(trx);
  }

  // A subject's pending rows are its head and the rows queued behind it, each on its own index.
  const firstPending = sql`
    SELECT subject, min(seq) AS first_seq FROM (
      SELECT subject, seq FROM deliveries
      WHERE subscription_id = ${subscriptionId} AND phase = ${LIVE} AND is_head AND subject = ANY(${distinctSubjects}::text[])
      UNION ALL
      SELECT subject, seq FROM deliveries
      WHERE subscription_id = ${subscriptionId} AND phase = ${LIVE} AND state = 'pending' AND NOT is_head AND subject = ANY(${distinctSubjects}::text[])
    ) pending
    GROUP BY subject
  `;
  await sql`
    UPDATE deliveries d SET is_head = false, has_queued = false FROM (${firstPending}) h
    WHERE d.subscription_id = ${subscriptionId} AND d.phase = ${LIVE} AND d.subject = h.subject AND d.is_head AND d.seq <> h.first_seq
  `.execute(trx);
  await sql`
    UPDATE deliveries d SET is_head = true, has_queued = true FROM (${firstPending}) h
    WHERE d.subscription_id = ${subscriptionId} AND d.phase = ${LIVE} AND d.subject = h.subject AND d.seq = h.first_seq
      AND NOT (d.is_head AND d.has_queued)
  `.execute(trx);

  return {
    fromSequence: fromSeq,
    requeued: Number(requeued.numAffectedRows ?? 0),
    expiredLeases: before.rows[0]?.leased ?? 0,
  };
}

/**
 * A row handed out and not settled whose lease has not run out (a nacked one waiting for its
 * delay counts too: either way its current ack id must stop working).
 */
const inFlight = sql`d.state = 'pending' AND d.delivery_count > d.replay_base AND d.available_at > now()`;
