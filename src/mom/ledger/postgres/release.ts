import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";

/**
 * Makes a subscription's waiting messages available now: what a resume does, so the backlog
 * of a disabled push subscription goes out at once instead of at its next retry time. Heads
 * stay heads, so per-subject order is untouched; returns how many rows were released.
 */
export async function releaseWaiting(db: Executor, subscriptionId: string): Promise<number> {
  const result = await sql`
    UPDATE deliveries d SET available_at = now()
    WHERE d.subscription_id = ${subscriptionId} AND d.state = 'pending' AND d.is_head AND d.available_at > now()
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
