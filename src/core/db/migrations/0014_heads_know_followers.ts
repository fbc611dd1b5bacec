import { sql, type Kysely } from "kysely";

/**
 * A live head says whether anything may be queued behind it, so finishing one that nothing
 * follows is one statement, with no promotion to look for. Heads of today may have followers.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE deliveries ADD COLUMN has_queued boolean NOT NULL DEFAULT false`.execute(db);
  await sql`UPDATE deliveries SET has_queued = true WHERE is_head AND phase = 1 AND state = 'pending'`.execute(db);
}
