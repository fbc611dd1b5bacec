import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { Config } from "../config.js";
import { namingMarkedStatements } from "./prepared.js";
import type { Database } from "./schema.js";

/** pg returns BIGINT as a string; our BIGINTs are stream sequences and counters well below 2^53. */
const INT8_OID = 20;
export const pgTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const CONNECT_TIMEOUT_MS = 2_000;
const ignoreClientError = () => {};

export interface DatabaseHandle {
  db: Kysely<Database>;
  pool: pg.Pool;
  close(): Promise<void>;
}

export function openDatabase(config: Config["database"]): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    types: pgTypes,
    options: `-c search_path=${config.schema}`,
    application_name: "certflow",
    // While PostgreSQL is down a request fails within this instead of queueing for a connection.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // A client losing its server, idle in the pool or checked out between two statements (a
  // transaction, a held session), emits 'error'; unhandled, that would end the process. The
  // statement that uses the client next reports the failure, and the pool drops the client.
  pool.on("error", ignoreClientError);
  pool.on("connect", (client) => {
    client.on("error", ignoreClientError);
    namingMarkedStatements(client);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool, close: () => db.destroy() };
}

const UNDEFINED_DATABASE = "3D000";

/** Creates the database and schema when missing, so a fresh machine needs no manual step; says whether the database was created now. */
export async function ensureDatabase(config: Config["database"]): Promise<{ created: boolean }> {
  const target = new URL(config.url);
  const name = decodeURIComponent(target.pathname.slice(1)) || "postgres";
  const probe = new pg.Client({ connectionString: config.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  probe.on("error", ignoreClientError);
  try {
    await probe.connect();
  } catch (error) {
    if ((error as { code?: string }).code !== UNDEFINED_DATABASE) throw error;
    await createDatabase(target, name);
    await probe.end().catch(() => {});
    await ensureDatabase(config);
    return { created: true };
  }
  try {
    await probe.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(config.schema)}`);
  } catch (error) {
    // Concurrent start-ups race on CREATE SCHEMA IF NOT EXISTS; the loser sees a unique violation.
    if ((error as { code?: string }).code !== "23505") throw error;
  } finally {
    await probe.end();
  }
  return { created: false };
}

async function createDatabase(target: URL, name: string): Promise<void> {
  const maintenance = new URL(target);
  maintenance.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  admin.on("error", ignoreClientError);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
  } catch (error) {
    // Created meanwhile by a concurrent start-up: 42P04, or 23505 when both raced on the catalog.
    const code = (error as { code?: string }).code;
    if (code !== "42P04" && code !== "23505") throw error;
  } finally {
    await admin.end();
  }
}

function quoteIdent(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
