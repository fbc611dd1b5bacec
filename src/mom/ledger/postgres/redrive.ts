import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { PHASE_CODE, phaseCode, type Phase } from "../ledger.js";
import { promoteHeads } from "./settle.js";
import { LIVE, PREFILL, addToCounters, amongKeys, retryOnDeadlock, keyOf, keyTable, settleShard, type KeyRow } from "./sql.js";

/**
 * Returns dead letters to their subjects' queues with a fresh delivery count. A redriven
 * message becomes its subject's head when nothing else of that subject is pending; otherwise
 * it is next in line, since it is older than what came after it.
 *
 * The subjects' current heads are locked first (in subject order, as everyone locks them), so
 * a finisher either sees the revived rows when it promotes, or has finished before this looks
 * for heads. A dispatcher that makes a head of the same subject at the same moment makes one
 * of the two fail on the unique index; that one is retried.
 */
export async function redrive(db: Executor, subscriptionId: string, only?: Array<{ phase: Phase; sequence: number }>): Promise<number> {
  const selection = only
    ? sql`AND (d.phase, d.seq) IN (SELECT * FROM unnest(${only.map((item) => phaseCode(item.phase))}::smallint[], ${only.map((item) => item.sequence)}::bigint[]))`
    : sql``;
  return retryOnDeadlock(
    () =>
      db.transaction().execute(async (trx) => {
        const dead = await sql<KeyRow & { subject: string }>`
          SELECT d.phase, d.seq, d.subject FROM deliveries d
          WHERE d.subscription_id = ${subscriptionId} AND d.state = 'dead' ${selection}
          ORDER BY d.phase, d.seq
          FOR UPDATE
        `.execute(trx);
        if (dead.rows.length === 0) return 0;
        const live = dead.rows.filter((row) => row.phase === PHASE_CODE.live);
        const subjects = [...new Set(live.map((row) => row.subject))];
        if (subjects.length > 0) {
          // Locked in subject order, and marked followed: the revived rows queue behind them.
          await sql`
            WITH heads AS (
              SELECT d.phase, d.seq FROM deliveries d
              WHERE d.subscription_id = ${subscriptionId} AND d.subject = ANY(${subjects}::text[]) AND d.phase = ${LIVE} AND d.is_head
              ORDER BY d.subject
              FOR UPDATE
            )
            UPDATE deliveries d SET has_queued = true FROM heads h
            WHERE d.subscription_id = ${subscriptionId} AND d.phase = h.phase AND d.seq = h.seq AND NOT d.has_queued
          `.execute(trx);
        }
        await sql`
          WITH revived AS (
            UPDATE deliveries d SET state = 'pending', delivery_count = 0, replay_base = 0, available_at = now(), finished_at = NULL, dead_reason = NULL,
              is_head = d.phase = ${PREFILL}, has_queued = false
            FROM (${keyTable(dead.rows.map(keyOf))}) i
            WHERE d.subscription_id = ${subscriptionId} AND ${amongKeys(dead.rows)} AND d.phase = i.phase AND d.seq = i.seq
            RETURNING d.phase
          )
          INSERT INTO subscription_stats (subscription_id, shard, queued, dead, prefill_pending)
          SELECT ${subscriptionId}, ${settleShard()}, count(*) FILTER (WHERE phase = ${LIVE}), -count(*), count(*) FILTER (WHERE phase = ${PREFILL})
          FROM revived HAVING count(*) > 0
          ${addToCounters("queued", "dead", "prefill_pending")}
        `.execute(trx);
        if (subjects.length > 0) await promoteHeads(trx, subscriptionId, subjects);
        return dead.rows.length;
      }),
    true,
  );
}
