import { sql, type Kysely } from "kysely";

/**
 * The ledger without per-subject group rows. A unique index admits one live head per
 * (subscription, subject): the dispatcher inserts a subject's first new message as its head
 * unless a head exists, and then locks that head instead of writing a counter. Pending counts
 * move to per-subscription counters (queued by the dispatcher, settled by whoever finishes).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE subscription_stats ADD COLUMN queued bigint NOT NULL DEFAULT 0, ADD COLUMN settled bigint NOT NULL DEFAULT 0`.execute(db);
  // What the groups counted becomes the queued count of a shard of its own.
  await sql`
    INSERT INTO subscription_stats (subscription_id, shard, queued)
    SELECT subscription_id, 32, sum(pending) FROM delivery_groups GROUP BY subscription_id HAVING sum(pending) > 0
    ON CONFLICT (subscription_id, shard) DO UPDATE SET queued = subscription_stats.queued + EXCLUDED.queued
  `.execute(db);
  await sql`DROP TABLE delivery_groups`.execute(db);
  await sql`CREATE UNIQUE INDEX deliveries_one_live_head ON deliveries (subscription_id, subject) WHERE is_head AND phase = 1`.execute(db);
  // Room on each page, so a lease (which changes no indexed column) is a HOT update.
  await sql`ALTER TABLE deliveries SET (fillfactor = 80)`.execute(db);
}
