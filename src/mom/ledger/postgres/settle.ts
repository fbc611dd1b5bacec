import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import type { AckId, LeaseTarget, NackItem, SettleOutcome, SettleStatus } from "../ledger.js";
import { DEADLOCK, LEASE_HELD, LIVE, amongKeys, keyString, keyTable, toKey, type Key, type KeyRow } from "./sql.js";

export type Finish =
  | { state: "acked"; reason: null }
  | { state: "dead"; reason: "rejected" | "max_deliveries" }
  | { state: "skipped"; reason: null };

/** Rows an acknowledgement count is spread over (see subscription_stats). */
const STATS_SHARDS = 16;
const statsShard = () => Math.floor(Math.random() * STATS_SHARDS);
const ATTEMPTS = 3;

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
  const lastAttempt = sql`${LEASE_HELD} AND d.delivery_count >= ${target.maxDeliveries}`;
  for (const row of await finish(db, target.id, keys, { state: "dead", reason: "max_deliveries" }, lastAttempt)) {
    settled.set(keyString(row), "dead_lettered");
  }
  const released = await sql<KeyRow>`
    UPDATE deliveries d SET available_at = now() + make_interval(secs => i.delay_seconds)
    FROM unnest(
      ${keys.map((key) => key.phase)}::smallint[],
      ${keys.map((key) => key.seq)}::bigint[],
      ${keys.map((key) => key.deliveryCount)}::int[],
      ${items.map((item) => item.delaySeconds)}::float8[]
    ) AS i(phase, seq, delivery_count, delay_seconds)
    WHERE d.subscription_id = ${target.id} AND ${amongKeys(keys)} AND d.phase = i.phase AND d.seq = i.seq
      AND d.state = 'pending' AND ${LEASE_HELD}
    RETURNING d.phase, d.seq
  `.execute(db);
  for (const row of released.rows) settled.set(keyString(row), "nacked");
  return outcomes(db, target.id, ackIds, settled);
}

/**
 * Finishes heads (those the guard admits) and promotes each subject's next pending row, in one
 * transaction. The promotion runs as a second statement so that it sees rows the dispatcher
 * committed while the first waited for a subject's group lock. Input keys are sorted, so group
 * rows are usually locked in subject order, as the dispatcher locks them; a deadlock that
 * still happens is retried.
 */
export async function finish(db: Executor, subscriptionId: string, keys: Key[], how: Finish, guard: RawBuilder<unknown>): Promise<KeyRow[]> {
  if (keys.length === 0) return [];
  const sorted = [...keys].sort((a, b) => a.phase - b.phase || a.seq - b.seq);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(async (trx) => {
        // Finished rows and the groups' new counts come back as one list, told apart by `kind`.
        const result = await sql<KeyRow & { kind: "done" | "group"; subject: string; pending: number }>`
          WITH done AS (
            UPDATE deliveries d SET state = ${how.state}, is_head = false, finished_at = now(), dead_reason = ${how.reason}
            FROM (${keyTable(sorted)}) i
            WHERE d.subscription_id = ${subscriptionId} AND ${amongKeys(sorted)} AND d.phase = i.phase AND d.seq = i.seq
              AND d.state = 'pending' AND d.is_head AND ${guard}
            RETURNING d.phase, d.seq, d.subject
          ), counts AS MATERIALIZED (
            SELECT subject, count(*)::int AS finished FROM done WHERE phase = ${LIVE} GROUP BY subject ORDER BY subject
          ), decremented AS (
            UPDATE delivery_groups g SET pending = g.pending - c.finished
            FROM counts c
            WHERE g.subscription_id = ${subscriptionId} AND g.subject = c.subject
            RETURNING g.subject, g.pending
          ), counted AS (
            INSERT INTO subscription_stats (subscription_id, shard, acked)
            SELECT ${subscriptionId}, ${statsShard()}, count(*) FROM done WHERE ${how.state} = 'acked' HAVING count(*) > 0
            ON CONFLICT (subscription_id, shard) DO UPDATE SET acked = subscription_stats.acked + EXCLUDED.acked
          )
          SELECT 'done' AS kind, phase, seq, subject, 0 AS pending FROM done
          UNION ALL
          SELECT 'group' AS kind, 0, 0, subject, pending FROM decremented
        `.execute(trx);
        const unblocked = result.rows.filter((row) => row.kind === "group" && row.pending > 0).map((row) => row.subject);
        if (unblocked.length > 0) await promoteHeads(trx, subscriptionId, unblocked);
        return result.rows.filter((row) => row.kind === "done");
      });
    } catch (error) {
      // Two settles of the same leases in different orders can deadlock; PostgreSQL aborts one.
      if ((error as { code?: string }).code !== DEADLOCK || attempt >= ATTEMPTS) throw error;
    }
  }
}

async function promoteHeads(trx: Executor, subscriptionId: string, subjects: string[]): Promise<void> {
  await sql`
    UPDATE deliveries d SET is_head = true
    FROM (
      SELECT DISTINCT ON (e.subject) e.phase, e.seq FROM deliveries e
      WHERE e.subscription_id = ${subscriptionId} AND e.subject = ANY(${subjects}::text[]) AND e.state = 'pending' AND e.phase = ${LIVE}
      ORDER BY e.subject, e.seq
    ) h
    WHERE d.subscription_id = ${subscriptionId} AND d.phase = h.phase AND d.seq = h.seq
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
