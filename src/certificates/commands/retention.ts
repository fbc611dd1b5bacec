import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import type { RetentionHorizons, RetentionRule } from "../../mom/retention/retention.js";

/** The retention kind of the command log, and the horizon GET /v1/commands/{id} answers by. */
export const COMMANDS_RETENTION_KIND = "commands";

/**
 * Finished commands (committed or failed) older than the period, oldest first. A command a
 * conversion or a trade still counts on (its conversion or saga unfinished) is kept whatever its
 * age, and an unfinished command is never removed: the log keeps what the one-in-flight rule,
 * the connector and reconciliation read.
 */
export function commandRetentionRule(db: Executor, periodSeconds: number): RetentionRule {
  return {
    kind: COMMANDS_RETENTION_KIND,
    periodSeconds,
    async prune(age, batch) {
      const result = await sql`
        DELETE FROM registry_commands c USING (
          SELECT o.id FROM registry_commands o
          WHERE o.state IN ('committed', 'failed') AND o.finished_at < now() - make_interval(secs => ${age})
            AND NOT EXISTS (SELECT 1 FROM conversions v WHERE v.id = o.parent_id AND v.status NOT IN ('done', 'failed'))
            AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.id = o.saga_id AND t.state IN ('pending', 'compensating'))
          ORDER BY o.finished_at
          LIMIT ${batch}
        ) old
        WHERE c.id = old.id
      `.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },
  };
}

/**
 * Whether a command id not in the log may be one retention removed: command ids are UUIDv7,
 * so the id tells when the command was accepted, and a removed command was accepted (and
 * finished) before the horizon. Returns the horizon then, or null.
 */
export async function removedByRetention(horizons: RetentionHorizons, id: string): Promise<Date | null> {
  const removedBefore = await horizons.removedBefore(COMMANDS_RETENTION_KIND);
  const acceptedAt = uuidv7Time(id);
  return removedBefore && acceptedAt !== undefined && acceptedAt < removedBefore.getTime() ? removedBefore : null;
}

function uuidv7Time(id: string): number | undefined {
  const hex = id.replaceAll("-", "");
  if (hex.length !== 32 || hex[12] !== "7") return undefined;
  return Number.parseInt(hex.slice(0, 12), 16);
}
