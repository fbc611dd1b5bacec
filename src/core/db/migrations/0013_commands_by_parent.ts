import { sql, type Kysely } from "kysely";

/** A conversion's progress counts its hourly commands by parent; without this, every count scanned the whole command log. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX registry_commands_by_parent ON registry_commands (parent_id) WHERE parent_id IS NOT NULL`.execute(db);
}
