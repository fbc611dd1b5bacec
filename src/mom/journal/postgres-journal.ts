import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import { PostgresRetentionHorizons } from "../retention/postgres-retention.js";
import type { DeliveryState, DeliveryStatus, JournalEntry, JournalRecord, NotificationJournal, Trace, TraceNode } from "./journal.js";

/** How deep a causal chain is followed: far beyond any real chain, short of a runaway cycle. */
const MAX_DEPTH = 10_000;

export class PostgresNotificationJournal implements NotificationJournal {
  constructor(private readonly db: Executor) {}

  removedBefore(kind: "journal" | "deliveries"): Promise<Date | null> {
    return new PostgresRetentionHorizons(this.db).removedBefore(kind);
  }

  async findMany(ids: readonly string[]): Promise<Map<string, JournalRecord>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom("notifications")
      .select(["id", "seq", "correlation_id"])
      .where("id", "in", [...new Set(ids)])
      .execute();
    return new Map(rows.map((row) => [row.id, { id: row.id, seq: row.seq, correlationId: row.correlation_id }]));
  }

  async find(id: string): Promise<JournalEntry | undefined> {
    const result = await sql<{ seq: number; source_name: string; accepted_at: Date; envelope: string }>`
      SELECT seq, source_name, accepted_at, envelope::text AS envelope FROM notifications WHERE id = ${id}
    `.execute(this.db);
    const row = result.rows[0];
    return row && { seq: row.seq, sourceName: row.source_name, acceptedAt: row.accepted_at, json: row.envelope };
  }

  async deliveryStates(seq: number): Promise<DeliveryState[]> {
    const rows = await this.db
      .selectFrom("deliveries as d")
      .innerJoin("subscriptions as s", "s.id", "d.subscription_id")
      .select(["s.name", "d.state", "d.delivery_count", "d.last_delivered_at", "d.finished_at", "d.dead_reason"])
      .where("d.phase", "=", 1)
      .where("d.seq", "=", seq)
      .orderBy("s.name")
      .execute();
    return rows.map((row) => ({
      subscription: row.name,
      phase: "live",
      status: statusOf(row.state, row.delivery_count),
      deliveryCount: row.delivery_count,
      lastDeliveredAt: row.last_delivered_at,
      finishedAt: row.finished_at,
      deadLetterReason: row.dead_reason,
    }));
  }

  async trace(id: string, maxNodes: number): Promise<Trace> {
    // CYCLE guards against producers that made a parent loop; the journal itself cannot.
    const ancestors = await sql<TraceNodeRow>`
      WITH RECURSIVE chain AS (
        SELECT n.id, n.parent_id, 0 AS depth FROM notifications n WHERE n.id = ${id}
        UNION ALL
        SELECT p.id, p.parent_id, c.depth + 1 FROM notifications p JOIN chain c ON p.id = c.parent_id WHERE c.depth < ${MAX_DEPTH}
      ) CYCLE id SET looped USING path
      SELECT c.id, c.parent_id, n.envelope::text AS envelope FROM chain c JOIN notifications n ON n.id = c.id
      WHERE c.depth > 0 AND NOT c.looped
      ORDER BY c.depth DESC
      LIMIT ${maxNodes}
    `.execute(this.db);
    const descendants = await sql<TraceNodeRow>`
      WITH RECURSIVE tree AS (
        SELECT n.id, n.parent_id, 0 AS depth FROM notifications n WHERE n.id = ${id}
        UNION ALL
        SELECT c.id, c.parent_id, t.depth + 1 FROM notifications c JOIN tree t ON c.parent_id = t.id WHERE t.depth < ${MAX_DEPTH}
      ) CYCLE id SET looped USING path
      SELECT t.id, t.parent_id, n.envelope::text AS envelope FROM tree t JOIN notifications n ON n.id = t.id
      WHERE t.depth > 0 AND NOT t.looped
      ORDER BY t.depth, n.seq
      LIMIT ${maxNodes}
    `.execute(this.db);
    return { ancestors: ancestors.rows.map(toNode), descendants: descendants.rows.map(toNode) };
  }

  async history(subject: string, limit: number, afterSeq: number): Promise<JournalEntry[]> {
    const result = await sql<{ seq: number; source_name: string; accepted_at: Date; envelope: string }>`
      SELECT seq, source_name, accepted_at, envelope::text AS envelope FROM notifications
      WHERE subject = ${subject} AND seq > ${afterSeq} AND type NOT LIKE 'registry.%'
      ORDER BY seq
      LIMIT ${limit}
    `.execute(this.db);
    return result.rows.map((row) => ({ seq: row.seq, sourceName: row.source_name, acceptedAt: row.accepted_at, json: row.envelope }));
  }
}

interface TraceNodeRow {
  id: string;
  parent_id: string | null;
  envelope: string;
}

const toNode = (row: TraceNodeRow): TraceNode => ({ id: row.id, parentId: row.parent_id, json: row.envelope });

function statusOf(state: string, deliveryCount: number): DeliveryStatus {
  if (state === "acked") return "acked";
  if (state === "dead") return "dead_lettered";
  if (state === "skipped") return "skipped";
  return deliveryCount > 0 ? "delivered" : "pending";
}
