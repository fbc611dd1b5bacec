import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { phaseCode, type Phase } from "../ledger.js";
import { LIVE, PREFILL, amongKeys, keyOf, keyTable, type KeyRow } from "./sql.js";

/**
 * Returns dead letters to their subjects' queues with a fresh delivery count. A redriven
 * message becomes its subject's head when nothing else of that subject is pending; otherwise
 * it is next in line, since it is older than what came after it.
 */
export async function redrive(db: Executor, subscriptionId: string, only?: Array<{ phase: Phase; sequence: number }>): Promise<number> {
  const selection = only
    ? sql`AND (d.phase, d.seq) IN (SELECT * FROM unnest(${only.map((item) => phaseCode(item.phase))}::smallint[], ${only.map((item) => item.sequence)}::bigint[]))`
    : sql``;
  return db.transaction().execute(async (trx) => {
    const dead = await sql<KeyRow & { subject: string }>`
      SELECT d.phase, d.seq, d.subject FROM deliveries d
      WHERE d.subscription_id = ${subscriptionId} AND d.state = 'dead' ${selection}
      ORDER BY d.phase, d.seq
      FOR UPDATE
    `.execute(trx);
    if (dead.rows.length === 0) return 0;
    const groups = await sql<{ subject: string; pending: number; added: number; first_phase: number; first_seq: number }>`
      WITH revived AS (
        SELECT * FROM unnest(
          ${dead.rows.map((row) => row.phase)}::smallint[], ${dead.rows.map((row) => row.seq)}::bigint[], ${dead.rows.map((row) => row.subject)}::text[]
        ) AS r(phase, seq, subject)
      ), counts AS (
        SELECT DISTINCT ON (subject) subject, count(*) OVER (PARTITION BY subject)::int AS added, phase AS first_phase, seq AS first_seq
        FROM revived WHERE phase = ${LIVE} ORDER BY subject, phase, seq
      ), grouped AS (
        INSERT INTO delivery_groups (subscription_id, subject, pending)
        SELECT ${subscriptionId}, subject, added FROM counts ORDER BY subject
        ON CONFLICT (subscription_id, subject) DO UPDATE SET pending = delivery_groups.pending + EXCLUDED.pending
        RETURNING subject, pending
      )
      SELECT c.subject, g.pending, c.added, c.first_phase, c.first_seq FROM counts c JOIN grouped g USING (subject)
    `.execute(trx);
    const heads = groups.rows.filter((group) => group.pending === group.added);
    await sql`
      UPDATE deliveries d SET state = 'pending', delivery_count = 0, available_at = now(), finished_at = NULL, dead_reason = NULL,
        is_head = d.phase = ${PREFILL} OR (d.phase, d.seq) IN (
          SELECT * FROM unnest(${heads.map((head) => head.first_phase)}::smallint[], ${heads.map((head) => head.first_seq)}::bigint[])
        )
      FROM (${keyTable(dead.rows.map(keyOf))}) i
      WHERE d.subscription_id = ${subscriptionId} AND ${amongKeys(dead.rows)} AND d.phase = i.phase AND d.seq = i.seq
    `.execute(trx);
    return dead.rows.length;
  });
}
