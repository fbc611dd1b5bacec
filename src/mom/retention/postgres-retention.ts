import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import type { RetentionHorizons } from "./retention.js";

export class PostgresRetentionHorizons implements RetentionHorizons {
  constructor(private readonly db: Executor) {}

  async record(kind: string, periodSeconds: number, removed: number): Promise<void> {
    await sql`
      INSERT INTO retention_horizons (kind, removed_before, removed_rows)
      VALUES (${kind}, now() - make_interval(secs => ${periodSeconds}), ${removed})
      ON CONFLICT (kind) DO UPDATE SET removed_before = GREATEST(retention_horizons.removed_before, EXCLUDED.removed_before),
        removed_rows = retention_horizons.removed_rows + EXCLUDED.removed_rows
    `.execute(this.db);
  }

  async removedBefore(kind: string): Promise<Date | null> {
    const row = await this.db.selectFrom("retention_horizons").select("removed_before").where("kind", "=", kind).executeTakeFirst();
    return row?.removed_before ?? null;
  }
}
