import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { DATABASE_URL, NATS_URL } from "./env.js";
import { sleep } from "./system-process.js";

const POLL_MS = 100;

/**
 * Waits until an all-in-one certflow process has dispatched and projected everything in its
 * stream, so work it deferred (the projection gives way to ingest) does not run during the
 * baseline's round that follows.
 */
export async function waitUntilCaughtUp(system: { id: string }, timeoutMs = 60_000): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  try {
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(`${system.id}_NOTIFICATIONS`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await db.query(
        `SELECT (SELECT count(*) FROM "${system.id}".notifications)::int AS journaled,
                (SELECT seq FROM "${system.id}".consumer_positions WHERE name = 'projection') AS projected`,
      );
      if (rows[0].journaled >= state.messages && Number(rows[0].projected ?? 0) >= state.last_seq) return;
      if (Date.now() > deadline) throw new Error(`certflow did not catch up with its stream within ${timeoutMs} ms`);
      await sleep(POLL_MS);
    }
  } finally {
    await db.end();
    await nc.close();
  }
}
