import { sql, type Kysely } from "kysely";

/**
 * Dead letters and pending prefill messages counted like the live queue: deltas on the
 * subscription's counter shards, written by the statements that change them, so a
 * subscription's stats read a few rows whatever the number of dead letters or the size of a
 * prefill. Today's rows are counted into a shard of their own.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE subscription_stats ADD COLUMN dead bigint NOT NULL DEFAULT 0, ADD COLUMN prefill_pending bigint NOT NULL DEFAULT 0`.execute(db);
  await sql`
    INSERT INTO subscription_stats (subscription_id, shard, dead, prefill_pending)
    SELECT d.subscription_id, 33, count(*) FILTER (WHERE d.state = 'dead'), count(*) FILTER (WHERE d.state = 'pending' AND d.phase = 0)
    FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
    WHERE d.state = 'dead' OR (d.state = 'pending' AND d.phase = 0)
    GROUP BY d.subscription_id
    ON CONFLICT (subscription_id, shard) DO UPDATE SET
      dead = subscription_stats.dead + EXCLUDED.dead, prefill_pending = subscription_stats.prefill_pending + EXCLUDED.prefill_pending
  `.execute(db);
}
