import type { Selectable, Updateable } from "kysely";
import type { Executor, SubscriptionsTable } from "../../core/db/schema.js";
import type { Filter } from "../../core/filters.js";
import type { Delivery, Subscription, SubscriptionSpec } from "./subscription.js";

export interface NewSubscription {
  id: string;
  spec: SubscriptionSpec;
  fingerprint: string;
  startSeq: number;
  tokenHash: string;
}

export interface SubscriptionChange {
  spec: SubscriptionSpec;
  fingerprint: string;
  status?: "active" | "paused";
}

export interface SubscriptionStore {
  findByName(name: string): Promise<Subscription | undefined>;
  /** Undefined when the name is taken. */
  create(subscription: NewSubscription): Promise<Subscription | undefined>;
  update(id: string, change: SubscriptionChange): Promise<Subscription | undefined>;
  delete(id: string): Promise<boolean>;
  list(limit: number, afterName?: string): Promise<Subscription[]>;
  replaceToken(id: string, tokenHash: string): Promise<boolean>;
}

/**
 * Every change also moves the subscription revision, in the same transaction: that is how the
 * dispatcher learns of it before it routes the next batch.
 */
export class PostgresSubscriptionStore implements SubscriptionStore {
  constructor(private readonly db: Executor) {}

  async findByName(name: string): Promise<Subscription | undefined> {
    const row = await this.db.selectFrom("subscriptions").selectAll().where("name", "=", name).executeTakeFirst();
    return row && toSubscription(row);
  }

  create(subscription: NewSubscription): Promise<Subscription | undefined> {
    const { spec } = subscription;
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto("subscriptions")
        .values({
          id: subscription.id,
          name: spec.name,
          description: spec.description,
          filters: JSON.stringify(spec.filters),
          delivery: JSON.stringify(spec.delivery),
          request_fingerprint: subscription.fingerprint,
          status: "active",
          ack_timeout_seconds: spec.ackTimeoutSeconds,
          max_deliveries: spec.maxDeliveries,
          start_seq: subscription.startSeq,
          prefill_enabled: spec.prefill,
          prefill_status: spec.prefill ? "pending" : "done",
          prefill_position: null,
          prefill_error: null,
          token_hash: subscription.tokenHash,
          status_reason: null,
          updated_at: new Date(),
        })
        .onConflict((conflict) => conflict.column("name").doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      await trx.insertInto("subscription_stats").values({ subscription_id: row.id }).execute();
      await bumpRevision(trx);
      return toSubscription(row);
    });
  }

  update(id: string, change: SubscriptionChange): Promise<Subscription | undefined> {
    const { spec } = change;
    const values: Updateable<SubscriptionsTable> = {
      description: spec.description,
      filters: JSON.stringify(spec.filters),
      delivery: JSON.stringify(spec.delivery),
      ack_timeout_seconds: spec.ackTimeoutSeconds,
      max_deliveries: spec.maxDeliveries,
      request_fingerprint: change.fingerprint,
      updated_at: new Date(),
    };
    if (change.status) {
      values.status = change.status;
      values.status_reason = null;
    }
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.updateTable("subscriptions").set(values).where("id", "=", id).returningAll().executeTakeFirst();
      if (!row) return undefined;
      await bumpRevision(trx);
      return toSubscription(row);
    });
  }

  delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const deleted = await trx.deleteFrom("subscriptions").where("id", "=", id).executeTakeFirst();
      if (deleted.numDeletedRows === 0n) return false;
      await bumpRevision(trx);
      return true;
    });
  }

  async list(limit: number, afterName?: string): Promise<Subscription[]> {
    let query = this.db.selectFrom("subscriptions").selectAll().orderBy("name").limit(limit);
    if (afterName !== undefined) query = query.where("name", ">", afterName);
    return (await query.execute()).map(toSubscription);
  }

  async replaceToken(id: string, tokenHash: string): Promise<boolean> {
    const result = await this.db
      .updateTable("subscriptions")
      .set({ token_hash: tokenHash, updated_at: new Date() })
      .where("id", "=", id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

async function bumpRevision(trx: Executor): Promise<void> {
  await trx.updateTable("subscription_changes").set((eb) => ({ revision: eb("revision", "+", 1) })).execute();
}

function toSubscription(row: Selectable<SubscriptionsTable>): Subscription {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    filters: row.filters as Filter[],
    prefill: row.prefill_enabled,
    delivery: row.delivery as Delivery,
    ackTimeoutSeconds: row.ack_timeout_seconds,
    maxDeliveries: row.max_deliveries,
    status: row.status,
    statusReason: row.status_reason,
    startSeq: row.start_seq,
    prefillState: {
      enabled: row.prefill_enabled,
      status: row.prefill_status,
      total: row.prefill_total,
      sent: row.prefill_sent,
      position: row.prefill_position,
      error: row.prefill_error,
    },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
