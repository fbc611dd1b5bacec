import { sql, type Kysely } from "kysely";
import { expect } from "vitest";
import type { Database } from "../../src/core/db/schema.js";
import { eventually } from "./eventually.js";
import { receiptsPerCommand, type TestRegistryEmulator } from "./registry-emulator.js";

/**
 * Checks for a conversion carried through the registry emulator: how far its hourly issue
 * commands got, and, once done, that every hour was issued exactly once in both books.
 */

/** The conversion's hourly issue commands by state, e.g. `{ committed: 4000, sent: 760, queued: 4000 }`. */
export async function hourlyCommandStates(db: Kysely<Database>, conversionId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom("registry_commands")
    .select(["state", (eb) => eb.fn.countAll<number>().as("n")])
    .where("parent_id", "=", conversionId)
    .groupBy("state")
    .execute();
  return Object.fromEntries(rows.map((row) => [row.state, Number(row.n)]));
}

export interface FinishedConversion {
  db: Kysely<Database>;
  registry: TestRegistryEmulator;
  annual: { certificateId: string; quantityWh: number };
  conversionId: string;
  hours: number;
}

/**
 * Every hour issued once: `hours` hourly certificates in the book summing exactly to the annual
 * quantity, each issue command committed and received by the registry once, the registry's
 * truth equal to the book hour by hour, and one `certificate.issued` per hour in the journal
 * (waited for up to `certificate.converted`, which the conversion commits after every hour).
 */
export async function expectEachHourIssuedOnce({ db, registry, annual, conversionId, hours }: FinishedConversion): Promise<void> {
  const book = await db
    .selectFrom("registry_certificates")
    .select(["certificate_id", "quantity_wh", "owner", "version"])
    .where("parent_certificate_id", "=", annual.certificateId)
    .execute();
  const summary = await sql<{ count: number; hours: number; starts: number; total: string }>`
    SELECT count(*)::int AS count, count(DISTINCT hour_index)::int AS hours, count(DISTINCT period_start)::int AS starts, sum(quantity_wh)::text AS total
    FROM registry_certificates WHERE parent_certificate_id = ${annual.certificateId}
  `.execute(db);
  expect(summary.rows[0]).toEqual({ count: hours, hours, starts: hours, total: String(annual.quantityWh) });

  expect(await hourlyCommandStates(db, conversionId)).toEqual({ committed: hours });
  const commands = await db.selectFrom("registry_commands").select(["id", "certificate_id"]).where("parent_id", "=", conversionId).execute();
  expect(new Set(commands.map((command) => command.certificate_id)).size, "one issue command per hour").toBe(hours);

  const hourly = (certificateId: string) => certificateId.startsWith(`${annual.certificateId}-h`);
  const receipts = receiptsPerCommand(registry, hourly);
  const twice = [...receipts].filter(([, count]) => count > 1);
  expect(twice, "commands the registry received more than once").toEqual([]);
  expect(commands.filter((command) => receipts.get(command.id) !== 1).map((command) => command.id), "commands the registry never received").toEqual([]);
  expect(receipts.size, "receipts of hourly issues").toBe(hours);

  let registryTotal = 0;
  const differing: string[] = [];
  for (const row of book) {
    const truth = registry.certificate(row.certificate_id);
    registryTotal += truth?.quantityWh ?? 0;
    if (truth?.quantityWh !== row.quantity_wh || truth.owner !== row.owner || truth.version !== row.version) differing.push(row.certificate_id);
  }
  expect(differing, "hours where the book and the registry differ").toEqual([]);
  expect(registryTotal).toBe(annual.quantityWh);

  const journal = await eventually(
    async () => {
      const result = await sql<{ issued: number; subjects: number; converted: number }>`
        SELECT count(*) FILTER (WHERE type = 'certificate.issued')::int AS issued,
          count(DISTINCT subject) FILTER (WHERE type = 'certificate.issued')::int AS subjects,
          count(*) FILTER (WHERE type = 'certificate.converted')::int AS converted
        FROM notifications WHERE correlation_id = ${conversionId}
      `.execute(db);
      const found = result.rows[0]!;
      expect(found.converted, "certificate.converted journaled").toBeGreaterThanOrEqual(1);
      expect(found.issued, "certificate.issued journaled").toBeGreaterThanOrEqual(hours);
      return found;
    },
    { timeoutMs: 60_000 },
  );
  expect(journal).toEqual({ issued: hours, subjects: hours, converted: 1 });
}
