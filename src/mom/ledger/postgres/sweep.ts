import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";

/**
 * A subject's group row stays after its last message is finished; these are deleted in the
 * background. Safe against a concurrent append: the delete re-checks `pending = 0` under the
 * row lock, and an append after the delete simply inserts the row again.
 */
export async function sweep(db: Executor, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM delivery_groups g
    WHERE (g.subscription_id, g.subject) IN (
      SELECT subscription_id, subject FROM delivery_groups WHERE pending = 0 LIMIT ${limit} FOR UPDATE SKIP LOCKED
    ) AND g.pending = 0
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
