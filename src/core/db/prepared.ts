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
