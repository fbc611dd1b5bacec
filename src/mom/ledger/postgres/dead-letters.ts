import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { phaseCode, phaseName, type DeadLetter, type DeadLetterCursor } from "../ledger.js";
import { messageJson, messageSources, type KeyRow } from "./sql.js";

/** Dead letters in stream order (prefill first), after the cursor. */
export async function deadLetters(db: Executor, subscriptionId: string, limit: number, after?: DeadLetterCursor): Promise<DeadLetter[]> {
  const afterClause = after ? sql`AND (d.phase, d.seq) > (${phaseCode(after.phase)}::smallint, ${after.sequence}::bigint)` : sql``;
  const result = await sql<KeyRow & { delivery_count: number; dead_reason: string; finished_at: Date; envelope: string }>`
    SELECT d.phase, d.seq, d.delivery_count, d.dead_reason, d.finished_at, ${messageJson("d")} AS envelope
    FROM deliveries d
    ${messageSources("d", sql.ref("d.subscription_id"))}
    WHERE d.subscription_id = ${subscriptionId} AND d.state = 'dead' ${afterClause}
    ORDER BY d.phase, d.seq
    LIMIT ${limit}
  `.execute(db);
  return result.rows.map((row) => ({
    phase: phaseName(row.phase),
    sequence: row.seq,
    deliveryCount: row.delivery_count,
    reason: row.dead_reason,
    deadLetteredAt: row.finished_at,
    notificationJson: row.envelope,
  }));
}
