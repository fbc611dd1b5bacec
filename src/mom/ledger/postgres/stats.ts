import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import type { LedgerStats, LeaseTarget } from "../ledger.js";
import { LIVE } from "./sql.js";

export async function stats(db: Executor, target: LeaseTarget): Promise<LedgerStats> {
  const result = await sql<{ pending: number; dead: number; acked: number; oldest: Date | null }>`
    SELECT
      ${pendingOf(sql`${target.id}::uuid`, sql`${target.liveFromSeq}::bigint IS NOT NULL`)} AS pending,
      COALESCE((SELECT sum(dead) FROM subscription_stats WHERE subscription_id = ${target.id}), 0)::int AS dead,
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
 * Messages waiting or in flight for a subscription, from its counters (a few rows whatever the
 * backlog): live ones queued less settled, and prefill ones when `withPrefill` holds (the
 * prefill's rows count from the moment its snapshot commits).
 */
function pendingOf(subscriptionId: RawBuilder<unknown>, withPrefill: RawBuilder<unknown>) {
  return sql<number>`COALESCE((
    SELECT sum(c.queued - c.settled + CASE WHEN ${withPrefill} THEN c.prefill_pending ELSE 0 END)
    FROM subscription_stats c WHERE c.subscription_id = ${subscriptionId}
  ), 0)::int`;
}
