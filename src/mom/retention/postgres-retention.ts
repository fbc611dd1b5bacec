import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import type { RetentionHorizons, RetentionRule } from "./retention.js";

export class PostgresRetentionHorizons implements RetentionHorizons {
  constructor(private readonly db: Executor) {}

  async record(kind: string, periodSeconds: number, removed: number): Promise<void> {
    await sql`
      INSERT INTO retention_horizons (kind, removed_before, removed_rows)
      VALUES (${kind}, now() - make_interval(secs => ${periodSeconds}), ${removed})
      ON CONFLICT (kind) DO UPDATE SET removed_before = GREATEST(retention_horizons.removed_before, EXCLUDED.removed_before),
        removed_rows = retention_horizons.removed_rows + EXCLUDED.removed_rows
    `.execute(this.db);
  }

  async removedBefore(kind: string): Promise<Date | null> {
    const row = await this.db.selectFrom("retention_horizons").select("removed_before").where("kind", "=", kind).executeTakeFirst();
    return row?.removed_before ?? null;
  }
}

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
 * to any more, and the lease history. Each deletes by the primary key of rows found on an index.
 */
export function ledgerRetentionRules(db: Executor, periods: LedgerRetentionPeriods): RetentionRule[] {
  const finished = (kind: string, periodSeconds: number, condition: ReturnType<typeof sql>): RetentionRule => ({
    kind,
    periodSeconds,
    async prune(age, batch) {
      const result = await sql`
        DELETE FROM deliveries d USING (
          SELECT subscription_id, phase, seq FROM deliveries
          WHERE state <> 'pending' AND finished_at < now() - make_interval(secs => ${age}) AND ${condition}
          LIMIT ${batch}
        ) old
        WHERE d.subscription_id = old.subscription_id AND d.phase = old.phase AND d.seq = old.seq
      `.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },
  });
  return [
    finished(RETENTION_KINDS.deliveries, periods.deliveriesSeconds, sql`state IN ('acked', 'skipped') AND phase = 1`),
    finished("prefill", periods.prefillSeconds, sql`state IN ('acked', 'skipped') AND phase = 0`),
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
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.phase = 1 AND d.seq = o.seq)
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
