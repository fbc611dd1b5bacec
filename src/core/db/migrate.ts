import { Migrator, type Kysely, type MigrationProvider } from "kysely";
import type { Logger } from "../logger.js";
import { MIGRATIONS } from "./migrations/index.js";
import type { Database } from "./schema.js";

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Applies the pending migrations; returns the names of those applied now. */
export async function migrateToLatest(db: Kysely<Database>, schema: string, logger: Logger): Promise<string[]> {
  // Concurrent start-ups (several services as processes) are serialised by Kysely's migration lock.
  const migrator = new Migrator({ db, provider, migrationTableSchema: schema });
  const { error, results } = await migrator.migrateToLatest();
  for (const result of results ?? []) {
    if (result.status === "Success") logger.info({ migration: result.migrationName }, "migration applied");
    if (result.status === "Error") logger.error({ migration: result.migrationName }, "migration failed");
  }
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((result) => result.status === "Success").map((result) => result.migrationName);
}
