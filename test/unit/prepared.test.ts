import { describe, expect, it } from "vitest";
import type pg from "pg";
import { namingMarkedStatements, PREPARED } from "../../src/core/db/prepared.js";
import { Kysely, PostgresDialect, sql } from "kysely";

/** A client that records what it was asked to run. */
function recordingClient() {
  const calls: unknown[][] = [];
  const client = { query: (...args: unknown[]) => calls.push(args) } as unknown as pg.PoolClient;
  namingMarkedStatements(client);
  return { client, calls };
}

describe("namingMarkedStatements", () => {
  // Compiling needs no connection.
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: {} as pg.Pool }) });
  const marked = sql`${PREPARED}SELECT ${1}`.compile(db).sql;

  it("sends a marked statement as a named one, the same name for the same text", () => {
    const { client, calls } = recordingClient();
    void client.query(marked, [1]);
    void client.query(marked, [2]);
    const [first, second] = calls.map((call) => call[0] as { name: string; text: string; values: unknown[] });
    expect(first).toMatchObject({ text: marked, values: [1] });
    expect(first!.name).toMatch(/^certflow_[0-9a-f]{20}$/);
    expect(second).toMatchObject({ name: first!.name, values: [2] });
  });

  it("leaves other statements unnamed, and statements of another text apart", () => {
    const { client, calls } = recordingClient();
    void client.query("SELECT $1", [1]);
    void client.query(`${marked} + 1`, [1]);
    void client.query(marked, [1]);
    expect(calls[0]).toEqual(["SELECT $1", [1], undefined]);
    expect((calls[1]![0] as { name: string }).name).not.toBe((calls[2]![0] as { name: string }).name);
  });
});
