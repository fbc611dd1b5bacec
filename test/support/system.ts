import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { loadConfig, type Config } from "../../src/core/config.js";
import { pgTypes } from "../../src/core/db/database.js";
import type { Database } from "../../src/core/db/schema.js";
import { createLogger } from "../../src/core/logger.js";
import type { CertificateRegistry } from "../../src/core/registry/port.js";
import { startSystem, type RunningSystem } from "../../src/system.js";
import { Api } from "./api.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789";
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/certflow_test";
export const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

/** A schema and a NATS namespace of its own, so tests run in parallel against one server each. */
export interface Isolation {
  id: string;
  env: Record<string, string>;
}

export function isolation(overrides: Record<string, string> = {}): Isolation {
  const id = `t${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;
  return {
    id,
    env: {
      CERTFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: id,
      DATABASE_POOL_SIZE: "8",
      NATS_URL,
      CERTFLOW_NAMESPACE: id,
      CERTFLOW_PARTITIONS: "4",
      CERTFLOW_LEASE_SECONDS: "2",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
      // The registry connector asks often, so tests wait for conditions, not for back-off.
      CERTFLOW_REGISTRY_POLL_MS: "10",
      CERTFLOW_REGISTRY_POLL_MAX_MS: "100",
      CERTFLOW_REGISTRY_RETRY_MS: "20",
      ...overrides,
    },
  };
}

export interface TestSystem {
  api: Api;
  url: string;
  config: Config;
  isolation: Isolation;
  /** Direct database access for assertions; queries run in the test's schema. */
  db: Kysely<Database>;
  stop(): Promise<void>;
  /** Stops the system and removes its schema and stream. */
  destroy(): Promise<void>;
}

export async function startTestSystem(
  options: { env?: Record<string, string>; isolation?: Isolation; certificateRegistry?: CertificateRegistry } = {},
): Promise<TestSystem> {
  const iso = options.isolation ?? isolation(options.env);
  const config = loadConfig({ ...iso.env, ...options.env });
  const running: RunningSystem = await startSystem(
    config,
    createLogger(config.logLevel),
    options.certificateRegistry ? { certificateRegistry: options.certificateRegistry } : {},
  );
  const db = schemaDatabase(iso.id);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await running.stop();
  };
  return {
    api: new Api(running.url),
    url: running.url,
    config,
    isolation: iso,
    db,
    stop,
    async destroy() {
      await stop();
      await db.destroy();
      await dropIsolation(iso);
    },
  };
}

export function schemaDatabase(schema: string): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2, options: `-c search_path=${schema}`, types: pgTypes });
  pool.on("error", () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export async function dropIsolation(iso: Isolation): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${iso.id}" CASCADE`);
  } finally {
    await client.end();
  }
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`${iso.id}_NOTIFICATIONS`).catch(() => false);
  } finally {
    await nc.close();
  }
}
