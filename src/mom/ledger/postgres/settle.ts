import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { preparedFor } from "../../../core/db/prepared.js";
import { PHASE_CODE, type AckId, type LeaseTarget, type NackItem, type SettleOutcome, type SettleStatus } from "../ledger.js";
import { ATTEMPTS_USED, LEASE_HELD, retryOnDeadlock, LIVE, PREFILL, addToCounters, amongKeys, keyString, keyTable, settleShard, toKey, type Key, type KeyRow } from "./sql.js";

export type Finish =
  | { state: "acked"; reason: null }
  | { state: "dead"; reason: "rejected" | "max_deliveries" }
  | { state: "skipped"; reason: null };


export async function ack(db: Executor, subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]> {
  const acked = await finish(db, subscriptionId, ackIds.map(toKey), { state: "acked", reason: null }, LEASE_HELD);
  return outcomes(db, subscriptionId, ackIds, new Map(acked.map((row) => [keyString(row), "acked" as const])));
}

export async function reject(db: Executor, subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]> {
  const rejected = await finish(db, subscriptionId, ackIds.map(toKey), { state: "dead", reason: "rejected" }, LEASE_HELD);
  return outcomes(db, subscriptionId, ackIds, new Map(rejected.map((row) => [keyString(row), "dead_lettered" as const])));
}

/** A nack on the last allowed delivery dead-letters; any other makes the message available again after its delay. */
export async function nack(db: Executor, target: LeaseTarget, items: NackItem[]): Promise<SettleOutcome[]> {
  const ackIds = items.map((item) => item.ackId);
  const keys = ackIds.map(toKey);
  const settled = new Map<string, SettleStatus>();
  const lastAttempt = sql`${LEASE_HELD} AND ${ATTEMPTS_USED} >= ${target.maxDeliveries}`;
  for (const row of await finish(db, target.id, keys, { state: "dead", reason: "max_deliveries" }, lastAttempt)) {
    settled.set(keyString(row), "dead_lettered");
  }
  // Locked in subject order, as the dispatcher and finishers lock heads.
  const released = await retryOnDeadlock(() =>
    sql<KeyRow>`
      WITH locked AS (
        SELECT d.phase, d.seq, i.delay_seconds FROM deliveries d
        JOIN unnest(
          ${keys.map((key) => key.phase)}::smallint[],
          ${keys.map((key) => key.seq)}::bigint[],
          ${keys.map((key) => key.deliveryCount)}::int[],
          ${items.map((item) => item.delaySeconds)}::float8[]
        ) AS i(phase, seq, delivery_count, delay_seconds) ON d.phase = i.phase AND d.seq = i.seq
        WHERE d.subscription_id = ${target.id} AND ${amongKeys(keys)} AND d.state = 'pending' AND ${LEASE_HELD}
        ORDER BY d.subject
        FOR UPDATE OF d
      )
      UPDATE deliveries d SET available_at = now() + make_interval(secs => l.delay_seconds)
      FROM locked l
      WHERE d.subscription_id = ${target.id} AND d.phase = l.phase AND d.seq = l.seq
      RETURNING d.phase, d.seq
    `.execute(db),
  );
  for (const row of released.rows) settled.set(keyString(row), "nacked");
  return outcomes(db, target.id, ackIds, settled);
}

/**
 * Finishes heads (those the guard admits) and promotes each subject's next pending row.
 *
 * Most heads have nothing queued behind them (`has_queued` is false): those finish in one
 * statement of their own. A dispatcher that queues behind such a head meanwhile marks it while
 * holding its lock, so this statement either finished it first (the dispatcher then finds no
 * head and makes its own message the head) or, after the lock, sees the mark and leaves it to
 * the transaction below.
 *
 * The rest finish in one transaction with the promotion of their successors. The heads are
 * locked in subject order (the order the dispatcher locks them in when it queues behind them);
 * the promotion runs as a second statement so that it sees rows the dispatcher committed while
 * the first waited for a head's lock. A deadlock that still happens (a nack or another settle of
 * the same leases) is retried.
 */
export async function finish(db: Executor, subscriptionId: string, keys: Key[], how: Finish, guard: RawBuilder<unknown>): Promise<KeyRow[]> {
  if (keys.length === 0) return [];
  const { done: alone, followed } = await retryOnDeadlock(() => finishHeads(db, subscriptionId, keys, how, guard, true));
  if (followed.length === 0) return alone;
  const followedKeys = new Set(followed.map(keyString));
  const rest = keys.filter((key) => followedKeys.has(keyString(key)));
  const done = await retryOnDeadlock(() =>
    db.transaction().execute(async (trx) => {
      const { done } = await finishHeads(trx, subscriptionId, rest, how, guard, false);
      const subjects = [...new Set(done.filter((row) => row.phase === PHASE_CODE.live).map((row) => row.subject))];
      if (subjects.length > 0) await promoteHeads(trx, subscriptionId, subjects);
      return done;
    }),
  );
  return [...alone, ...done];
}

/**
 * Finishes the heads the guard admits. With `leaveFollowed`, heads marked `has_queued` are only
 * locked and returned as `followed` (read after the lock, so a mark set meanwhile counts), for the
 * transaction that promotes their successors.
 */
async function finishHeads(db: Executor, subscriptionId: string, keys: Key[], how: Finish, guard: RawBuilder<unknown>, leaveFollowed: boolean) {
  const result = await sql<KeyRow & { subject: string; followed: boolean }>`${preparedFor(keys.length)}
    WITH locked AS (
      SELECT d.phase, d.seq, d.has_queued FROM deliveries d
      JOIN (${keyTable(keys)}) i ON d.phase = i.phase AND d.seq = i.seq
      WHERE d.subscription_id = ${subscriptionId} AND ${amongKeys(keys)} AND d.state = 'pending' AND d.is_head AND ${guard}
      ORDER BY d.subject
      FOR UPDATE OF d
    ), done AS (
      UPDATE deliveries d SET state = ${how.state}, is_head = false, has_queued = false, finished_at = now(), dead_reason = ${how.reason}
      FROM locked l
      WHERE d.subscription_id = ${subscriptionId} AND d.phase = l.phase AND d.seq = l.seq AND NOT (${leaveFollowed}::boolean AND l.has_queued)
      RETURNING d.phase, d.seq, d.subject
    ), counted AS (
      INSERT INTO subscription_stats (subscription_id, shard, acked, settled, dead, prefill_pending)
      SELECT ${subscriptionId}, ${settleShard()}, count(*) FILTER (WHERE ${how.state} = 'acked'), count(*) FILTER (WHERE phase = ${LIVE}),
        count(*) FILTER (WHERE ${how.state} = 'dead'), -count(*) FILTER (WHERE phase = ${PREFILL})
      FROM done HAVING count(*) > 0
      ${addToCounters("acked", "settled", "dead", "prefill_pending")}
    )
    SELECT phase, seq, subject, false AS followed FROM done
    UNION ALL
    SELECT l.phase, l.seq, NULL, true FROM locked l WHERE ${leaveFollowed}::boolean AND l.has_queued
  `.execute(db);
  return {
    done: result.rows.filter((row) => !row.followed),
    followed: result.rows.filter((row) => row.followed),
  };
}

/**
 * Each subject's lowest queued live message becomes its head, where the subject has none (it is
 * then its lowest pending one: nothing pending but a head sits below the rows queued behind it).
 * A promoted head may have more behind it, so it is marked followed.
 */
export async function promoteHeads(trx: Executor, subscriptionId: string, subjects: string[]): Promise<void> {
  await sql`${preparedFor(subjects.length)}
    UPDATE deliveries d SET is_head = true, has_queued = true
    FROM (
      SELECT DISTINCT ON (e.subject) e.phase, e.seq, e.subject FROM deliveries e
      WHERE e.subscription_id = ${subscriptionId} AND e.subject = ANY(${subjects}::text[]) AND e.state = 'pending' AND e.phase = ${LIVE}
        AND NOT e.is_head
      ORDER BY e.subject, e.seq
    ) h
    WHERE d.subscription_id = ${subscriptionId} AND d.phase = h.phase AND d.seq = h.seq AND NOT d.is_head
      AND NOT EXISTS (
        SELECT 1 FROM deliveries x
        WHERE x.subscription_id = ${subscriptionId} AND x.subject = h.subject AND x.phase = ${LIVE} AND x.is_head
      )
  `.execute(trx);
}

/** Names what happened to each ack id; those not settled are told apart as expired (handed out again) or not found. */
async function outcomes(db: Executor, subscriptionId: string, ackIds: AckId[], settled: Map<string, SettleStatus>): Promise<SettleOutcome[]> {
  const unsettled = ackIds.map(toKey).filter((key) => !settled.has(keyString(key)));
  const stillPending = new Set<string>();
  if (unsettled.length > 0) {
    const rows = await sql<KeyRow>`
      SELECT d.phase, d.seq FROM deliveries d JOIN (${keyTable(unsettled)}) i ON d.phase = i.phase AND d.seq = i.seq
      WHERE d.subscription_id = ${subscriptionId} AND ${amongKeys(unsettled)} AND d.state = 'pending'
    `.execute(db);
    for (const row of rows.rows) stillPending.add(keyString(row));
  }
  return ackIds.map((ackId) => {
    const key = keyString(toKey(ackId));
    return { ackId, status: settled.get(key) ?? (stillPending.has(key) ? "expired" : "not_found") };
  });
}
