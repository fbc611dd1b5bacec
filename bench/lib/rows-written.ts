import pg from "pg";
import { DATABASE_URL } from "./env.js";

/**
 * Rows inserted, updated and deleted in a schema's tables since they were made, from
 * pg_stat_user_tables. Backends report their counts when they exit, so read it after the
 * system's connections are closed.
 */
export async function rowsWritten(schema: string): Promise<number> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const result = await client.query<{ rows: string | null }>(
      `SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) AS rows FROM pg_stat_user_tables WHERE schemaname = $1`,
      [schema],
    );
    return Number(result.rows[0]?.rows ?? 0);
  } finally {
    await client.end();
  }
}
