import type { Executor } from "../../core/db/schema.js";

export interface SubscriptionRef {
  id: string;
  prefillEnabled: boolean;
}

/** What the prefill service needs to know of a subscription named in a request. */
export interface SubscriptionLookup {
  find(name: string): Promise<SubscriptionRef | undefined>;
}

export class PostgresSubscriptionLookup implements SubscriptionLookup {
  constructor(private readonly db: Executor) {}

  async find(name: string): Promise<SubscriptionRef | undefined> {
    const row = await this.db.selectFrom("subscriptions").select(["id", "prefill_enabled"]).where("name", "=", name).executeTakeFirst();
    return row && { id: row.id, prefillEnabled: row.prefill_enabled };
  }
}
