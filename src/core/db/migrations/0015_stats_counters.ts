import { sql, type Kysely } from "kysely";

/**
 * Dead letters, pending prefill messages and the newest live sequence queued, kept on the
 * subscription's counter shards like the live queue's counts, by the statements that change
 * them: a subscription's stats and position read a few rows whatever the number of dead
 * letters, the size of a prefill, or how many rows other subscriptions have. Today's rows are
 * counted into a shard of their own.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE subscription_stats ADD COLUMN dead bigint NOT NULL DEFAULT 0, ADD COLUMN prefill_pending bigint NOT NULL DEFAULT 0,
      ADD COLUMN last_queued_seq bigint
  `.execute(db);
  await sql`
    INSERT INTO subscription_stats (subscription_id, shard, dead, prefill_pending, last_queued_seq)
    SELECT d.subscription_id, 33, count(*) FILTER (WHERE d.state = 'dead'), count(*) FILTER (WHERE d.state = 'pending' AND d.phase = 0),
      max(d.seq) FILTER (WHERE d.phase = 1)
    FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
    GROUP BY d.subscription_id
    ON CONFLICT (subscription_id, shard) DO UPDATE SET
      dead = subscription_stats.dead + EXCLUDED.dead, prefill_pending = subscription_stats.prefill_pending + EXCLUDED.prefill_pending,
      last_queued_seq = EXCLUDED.last_queued_seq
  `.execute(db);
}
