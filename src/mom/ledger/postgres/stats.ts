import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import type { LedgerStats, LeaseTarget } from "../ledger.js";
import { LIVE, PREFILL } from "./sql.js";

export async function stats(db: Executor, target: LeaseTarget): Promise<LedgerStats> {
  // Prefill rows only count once the snapshot committed; before, the walk would only meet invisible rows.
  const result = await sql<{ pending: number; dead: number; acked: number; oldest: Date | null }>`
    SELECT
      ${pendingOf(sql`${target.id}::uuid`, sql`${target.liveFromSeq}::bigint IS NOT NULL`)} AS pending,
      (SELECT count(*) FROM deliveries d WHERE d.subscription_id = ${target.id} AND d.state = 'dead')::int AS dead,
      COALESCE((SELECT sum(acked) FROM subscription_stats WHERE subscription_id = ${target.id}), 0)::bigint AS acked,
      -- The lowest pending live sequence is always a head, so the heads' index finds it.
      (SELECT n.accepted_at FROM deliveries d JOIN notifications n ON n.seq = d.seq
        WHERE d.subscription_id = ${target.id} AND d.phase = ${LIVE} AND d.state = 'pending' AND d.is_head
        ORDER BY d.seq LIMIT 1) AS oldest
  `.execute(db);
  const row = result.rows[0]!;
  return { pending: row.pending, acked: row.acked, deadLettered: row.dead, oldestPendingAt: row.oldest };
}

/** Messages waiting or in flight, by subscription name (for the metrics gauge). */
export async function pendingBySubscription(db: Executor): Promise<Map<string, number>> {
  const result = await sql<{ name: string; pending: number }>`
    SELECT s.name, ${pendingOf(sql.ref("s.id"), sql`true`)} AS pending FROM subscriptions s
  `.execute(db);
  return new Map(result.rows.map((row) => [row.name, row.pending]));
}

/**
 * Messages waiting or in flight for a subscription: live ones from its counters (queued less
 * settled, a few rows whatever the backlog), prefill ones (one per certificate, each its own
 * head) one by one, when `withPrefill` holds.
 */
function pendingOf(subscriptionId: RawBuilder<unknown>, withPrefill: RawBuilder<unknown>) {
  return sql<number>`(
    COALESCE((SELECT sum(c.queued - c.settled) FROM subscription_stats c WHERE c.subscription_id = ${subscriptionId}), 0)
    + CASE WHEN ${withPrefill} THEN
        (SELECT count(*) FROM deliveries p WHERE p.subscription_id = ${subscriptionId} AND p.phase = ${PREFILL} AND p.state = 'pending' AND p.is_head)
      ELSE 0 END
  )::int`;
}
