import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { DATABASE_URL, NATS_URL } from "./env.js";

type Cleanup = () => Promise<void>;

/** Everything still to undo, newest first; run on normal completion and on Ctrl-C alike. */
const pending = new Set<Cleanup>();

/** Registers an undo step; the returned function runs it now (once) and unregisters it. */
export function deferCleanup(cleanup: Cleanup): () => Promise<void> {
  let done = false;
  const once: Cleanup = async () => {
    if (done) return;
    done = true;
    pending.delete(once);
    await cleanup();
  };
  pending.add(once);
  return once;
}

export async function runAllCleanups(): Promise<void> {
  for (const cleanup of [...pending].reverse()) {
    await cleanup().catch((error: unknown) => console.error(`  cleanup failed: ${(error as Error).message}`));
  }
}

/** Drops the schema certflow used (if any). */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await client.connect();
  } catch (error) {
    // The database is made by certflow on its first start; nothing to drop if it never came.
    if ((error as { code?: string }).code === "3D000") return;
    throw error;
  }
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Deletes JetStream streams (their consumers go with them). */
export async function deleteStreams(...streams: string[]): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}
