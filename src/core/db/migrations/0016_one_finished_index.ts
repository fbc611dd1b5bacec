import { sql, type Kysely } from "kysely";

/**
 * One index of finished deliveries instead of two: by subscription and finish time, which
 * retention walks per subscription and the latency sample reads newest first. An acknowledgement
 * is not a HOT update, so every index its new row enters costs it an insert.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX deliveries_finished_by_subscription ON deliveries (subscription_id, finished_at) WHERE state <> 'pending'`.execute(db);
  await sql`DROP INDEX deliveries_finished`.execute(db);
  await sql`DROP INDEX deliveries_recently_finished`.execute(db);
}
