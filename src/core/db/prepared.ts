import { createHash } from "node:crypto";
import { sql } from "kysely";
import type pg from "pg";

const MARK = "/* prepared */ ";

/**
 * Put first in a statement that runs many times a second with the same text (the ledger's append,
 * lease and settle, the projection's apply): each connection then parses it once, as a named
 * statement, and PostgreSQL may keep its plan, where planning these CTEs otherwise costs about as
 * much as running them. Only marked statements are named, so a connection holds a few, never one
 * per query a builder made.
 */
export const PREPARED = sql.raw(MARK);

/**
 * The rows up to which a statement is worth naming. A kept (generic) plan is made for arrays of a
 * few rows; for a batch of hundreds the planner's own plan is worth its planning time (a generic
 * lease or settle of 500 ran 3-4x slower than a planned one).
 */
export const PREPARED_ROWS = 64;

/** PREPARED for a statement over `rows` input rows when that is few enough, else nothing. */
export const preparedFor = (rows: number) => (rows <= PREPARED_ROWS ? PREPARED : sql``);

const names = new Map<string, string>();
const nameOf = (text: string) => {
  let name = names.get(text);
  if (!name) {
    name = `certflow_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
};

type Query = (...args: unknown[]) => unknown;

/** Makes a pool client send marked statements as named ones (node-postgres parses a name once per connection). */
export function namingMarkedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as Query;
  (client as unknown as { query: Query }).query = (config: unknown, values?: unknown, callback?: unknown) =>
    typeof config === "string" && config.startsWith(MARK)
      ? query({ name: nameOf(config), text: config, values }, callback)
      : query(config, values, callback);
}
