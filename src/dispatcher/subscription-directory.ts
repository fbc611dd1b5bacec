import { sql } from "kysely";
import type { Executor } from "../core/db/schema.js";
import { FiltersSchema, type Filter } from "../core/filters.js";

export interface RoutableSubscription {
  id: string;
  startSeq: number;
  filters: Filter[];
}

export interface SubscriptionSnapshot {
  revision: number;
  subscriptions: RoutableSubscription[];
}

/** The dispatcher's read-only view of the subscriptions. */
export interface SubscriptionDirectory {
  /** Every subscription and the revision they belong to, read in one snapshot. */
  snapshot(): Promise<SubscriptionSnapshot>;
}

export class PostgresSubscriptionDirectory implements SubscriptionDirectory {
  constructor(private readonly db: Executor) {}

  async snapshot(): Promise<SubscriptionSnapshot> {
    // One statement is one snapshot: the revision and the rows cannot disagree.
    const result = await sql<{ revision: number; id: string | null; start_seq: number; filters: unknown }>`
      SELECT c.revision, s.id, s.start_seq, s.filters
      FROM subscription_changes c LEFT JOIN subscriptions s ON true
    `.execute(this.db);
    const revision = result.rows[0]?.revision ?? 0;
    const subscriptions = result.rows
      .filter((row): row is typeof row & { id: string } => row.id !== null)
      .map((row) => ({ id: row.id, startSeq: row.start_seq, filters: FiltersSchema.parse(row.filters) }));
    return { revision, subscriptions };
  }
}
