import { sql, type Kysely } from "kysely";

/** Lets retention find finished registry commands by age in small batches, without a scan. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX registry_commands_finished ON registry_commands (finished_at) WHERE state IN ('committed', 'failed')`.execute(db);
}
