import type { Executor } from "../../core/db/schema.js";
import type { JournalRecord, NotificationJournal } from "./journal.js";

export class PostgresNotificationJournal implements NotificationJournal {
  constructor(private readonly db: Executor) {}

  async findMany(ids: readonly string[]): Promise<Map<string, JournalRecord>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom("notifications")
      .select(["id", "seq", "correlation_id"])
      .where("id", "in", [...new Set(ids)])
      .execute();
    return new Map(rows.map((row) => [row.id, { id: row.id, seq: row.seq, correlationId: row.correlation_id }]));
  }
}
