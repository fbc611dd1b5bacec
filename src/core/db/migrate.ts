import { Migrator, type Kysely, type MigrationProvider } from "kysely";
import type { Logger } from "../logger.js";
import { MIGRATIONS } from "./migrations/index.js";
import type { Database } from "./schema.js";

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

const INVALID_SCHEMA_NAME = "3F000";
const ATTEMPTS = 5;

/** Applies the pending migrations; returns the names of those applied now. */
export async function migrateToLatest(db: Kysely<Database>, schema: string, logger: Logger): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db, schema, logger);
    } catch (error) {
      // Kysely's introspection lists the tables of every schema in the database; a schema another
      // deployment drops meanwhile fails that listing. It is not ours, so looking again succeeds.
      const theirs = (error as { code?: string }).code === INVALID_SCHEMA_NAME && !(error as Error).message.includes(`"${schema}"`);
      if (!theirs || attempt >= ATTEMPTS) throw error;
    }
  }
}

async function migrateOnce(db: Kysely<Database>, schema: string, logger: Logger): Promise<string[]> {
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
