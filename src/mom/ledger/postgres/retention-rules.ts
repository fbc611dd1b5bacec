import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import type { RetentionRule } from "../../retention/retention.js";
import { LIVE, PREFILL, RETENTION_SHARD, addToCounters } from "./sql.js";

export interface LedgerRetentionPeriods {
  deliveriesSeconds: number;
  deadLettersSeconds: number;
  prefillSeconds: number;
  journalSeconds: number;
  leaseHistorySeconds: number;
}

/** Retention kinds the read APIs mark. */
export const RETENTION_KINDS = { journal: "journal", deliveries: "deliveries" } as const;

/**
 * The rules for the tables the broker side owns: finished live deliveries, finished prefill
 * messages (they carry the certificate's state), dead letters, journal rows no delivery refers
 * to any more, and the lease history. Each deletes by the primary key of rows found on an index
 * (finished deliveries on theirs, subscription by subscription: it leads with the subscription).
 */
export function ledgerRetentionRules(db: Executor, periods: LedgerRetentionPeriods): RetentionRule[] {
  const finished = (kind: string, periodSeconds: number, condition: ReturnType<typeof sql>): RetentionRule => ({
    kind,
    periodSeconds,
    async prune(age, batch) {
      // A dead letter removed leaves the subscription's dead-letter count (acked and skipped rows are in none).
      const result = await sql<{ removed: number }>`
        WITH removed AS (
          DELETE FROM deliveries d USING (
            SELECT o.subscription_id, o.phase, o.seq FROM subscriptions s CROSS JOIN LATERAL (
              SELECT subscription_id, phase, seq FROM deliveries
              WHERE subscription_id = s.id AND state <> 'pending' AND finished_at < now() - make_interval(secs => ${age}) AND ${condition}
              ORDER BY finished_at
              LIMIT ${batch}
            ) o
            LIMIT ${batch}
          ) old
          WHERE d.subscription_id = old.subscription_id AND d.phase = old.phase AND d.seq = old.seq
          RETURNING d.subscription_id, d.state
        ), uncounted AS (
          INSERT INTO subscription_stats (subscription_id, shard, dead)
          SELECT subscription_id, ${RETENTION_SHARD}, -count(*) FROM removed WHERE state = 'dead' GROUP BY subscription_id
          ${addToCounters("dead")}
        )
        SELECT count(*)::int AS removed FROM removed
      `.execute(db);
      return result.rows[0]?.removed ?? 0;
    },
  });
  return [
    finished(RETENTION_KINDS.deliveries, periods.deliveriesSeconds, sql`state IN ('acked', 'skipped') AND phase = ${LIVE}`),
    finished("prefill", periods.prefillSeconds, sql`state IN ('acked', 'skipped') AND phase = ${PREFILL}`),
    finished("dead_letters", periods.deadLettersSeconds, sql`state = 'dead'`),
    {
      kind: RETENTION_KINDS.journal,
      periodSeconds: periods.journalSeconds,
      async prune(age, batch) {
        // A notification some subscription still has (pending, or a dead letter) keeps its journal row.
        const result = await sql`
          DELETE FROM notifications n USING (
            SELECT o.seq FROM notifications o
            WHERE o.accepted_at < now() - make_interval(secs => ${age})
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.phase = ${LIVE} AND d.seq = o.seq)
            ORDER BY o.accepted_at
            LIMIT ${batch}
          ) old
          WHERE n.seq = old.seq
        `.execute(db);
        return Number(result.numAffectedRows ?? 0);
      },
    },
    {
      kind: "lease_history",
      periodSeconds: periods.leaseHistorySeconds,
      async prune(age, batch) {
        const result = await sql`
          DELETE FROM lease_history h USING (
            SELECT name, epoch FROM lease_history WHERE ended_at < now() - make_interval(secs => ${age}) LIMIT ${batch}
          ) old
          WHERE h.name = old.name AND h.epoch = old.epoch
        `.execute(db);
        return Number(result.numAffectedRows ?? 0);
      },
    },
  ];
}
