import { sql, type Selectable, type Updateable } from "kysely";
import type { Executor, PrefillsTable, PrefillSnapshotsTable, SubscriptionsTable } from "../../core/db/schema.js";
import type { Filter } from "../../core/filters.js";
import type { OperationalEvents } from "../operations/operational-events.js";
import type { Delivery, Prefill, Subscription, SubscriptionSpec } from "./subscription.js";

export interface NewSubscription {
  id: string;
  spec: SubscriptionSpec;
  fingerprint: string;
  startSeq: number;
  tokenHash: string;
  /** The webhook signing secret of a push subscription. */
  secret?: string;
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
  /** `resumedNow` says whether this change took it from paused or disabled to active. */
  update(id: string, change: SubscriptionChange): Promise<(Subscription & { resumedNow: boolean }) | undefined>;
  delete(id: string): Promise<boolean>;
  list(limit: number, afterName?: string): Promise<Subscription[]>;
  /** Every push subscription, whatever its status. */
  listPush(): Promise<Subscription[]>;
  /** Moves when any subscription changes. */
  revision(): Promise<number>;
  replaceToken(id: string, tokenHash: string): Promise<boolean>;
  /** Adds a new signing secret; the current ones keep signing for `graceSeconds`. */
  rotateSecret(id: string, secret: string, graceSeconds: number): Promise<void>;
}

/**
 * Every change also moves the subscription revision, in the same transaction: that is how the
 * dispatcher learns of it before it routes the next batch.
 */
export class PostgresSubscriptionStore implements SubscriptionStore {
  constructor(
    private readonly db: Executor,
    private readonly events?: OperationalEvents,
  ) {}

  async findByName(name: string): Promise<Subscription | undefined> {
    const row = await withPrefill(this.db).where("s.name", "=", name).executeTakeFirst();
    return row && toSubscription(row);
  }

  create(subscription: NewSubscription): Promise<Subscription | undefined> {
    const { spec } = subscription;
    return this.db.transaction().execute(async (trx) => {
      await bumpRevision(trx);
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
          slo_max_lag_seconds: spec.slo?.maxLagSeconds ?? null,
          token_hash: subscription.tokenHash,
          status_reason: null,
          updated_at: new Date(),
        })
        .onConflict((conflict) => conflict.column("name").doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      if (subscription.secret) await trx.insertInto("push_secrets").values({ subscription_id: row.id, secret: subscription.secret }).execute();
      if (spec.prefill) await trx.insertInto("prefills").values({ subscription_id: row.id, status: "pending" }).execute();
      return toSubscription({ ...row, ...NO_PREFILL, prefill_status: spec.prefill ? "pending" : null });
    });
  }

  update(id: string, change: SubscriptionChange): Promise<(Subscription & { resumedNow: boolean }) | undefined> {
    const { spec } = change;
    const values: Updateable<SubscriptionsTable> = {
      description: spec.description,
      filters: JSON.stringify(spec.filters),
      delivery: JSON.stringify(spec.delivery),
      ack_timeout_seconds: spec.ackTimeoutSeconds,
      max_deliveries: spec.maxDeliveries,
      slo_max_lag_seconds: spec.slo?.maxLagSeconds ?? null,
      request_fingerprint: change.fingerprint,
      updated_at: new Date(),
    };
    if (change.status) {
      values.status = change.status;
      values.status_reason = null;
      values.failing_since = null;
    }
    const outcome = this.db.transaction().execute(async (trx) => {
      await bumpRevision(trx);
      const before = await trx.selectFrom("subscriptions").select(["status", "name"]).where("id", "=", id).forUpdate().executeTakeFirst();
      if (!before) return undefined;
      await trx.updateTable("subscriptions").set(values).where("id", "=", id).execute();
      const resumed = change.status === "active" && before.status !== "active";
      if (resumed && this.events) {
        const previousStatus = before.status as "paused" | "disabled";
        await this.events.record(trx, "subscription.resumed", before.name, { subscription: before.name, subscriptionId: id, previousStatus });
      }
      const row = await withPrefill(trx).where("s.id", "=", id).executeTakeFirstOrThrow();
      return { subscription: toSubscription(row), resumed };
    });
    return outcome.then((result) => {
      if (result?.resumed) this.events?.kick();
      return result && { ...result.subscription, resumedNow: result.resumed };
    });
  }

  delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await bumpRevision(trx);
      const deleted = await trx.deleteFrom("subscriptions").where("id", "=", id).executeTakeFirst();
      return deleted.numDeletedRows > 0n;
    });
  }

  async list(limit: number, afterName?: string): Promise<Subscription[]> {
    let query = withPrefill(this.db).orderBy("s.name").limit(limit);
    if (afterName !== undefined) query = query.where("s.name", ">", afterName);
    return (await query.execute()).map(toSubscription);
  }

  async listPush(): Promise<Subscription[]> {
    const rows = await withPrefill(this.db).where(sql<string>`s.delivery->>'mode'`, "=", "push").orderBy("s.name").execute();
    return rows.map(toSubscription);
  }

  async revision(): Promise<number> {
    const row = await this.db.selectFrom("subscription_changes").select("revision").executeTakeFirstOrThrow();
    return row.revision;
  }

  async replaceToken(id: string, tokenHash: string): Promise<boolean> {
    const result = await this.db
      .updateTable("subscriptions")
      .set({ token_hash: tokenHash, updated_at: new Date() })
      .where("id", "=", id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  rotateSecret(id: string, secret: string, graceSeconds: number): Promise<void> {
    return this.db.transaction().execute(async (trx) => {
      await bumpRevision(trx);
      await trx
        .updateTable("push_secrets")
        .set({ expires_at: sql<Date>`now() + make_interval(secs => ${graceSeconds})` })
        .where("subscription_id", "=", id)
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", sql<Date>`now() + make_interval(secs => ${graceSeconds})`)]))
        .execute();
      await trx.insertInto("push_secrets").values({ subscription_id: id, secret }).execute();
    });
  }
}

/**
 * Every change to subscriptions moves this revision in its own transaction: the dispatcher and
 * push pumps watch it. It is the change's first write: it waits for the dispatcher's appends
 * routed with the old revision, which share-lock this row before they lock subscriptions or
 * deliveries, so taking it before those rows cannot deadlock with them.
 */
export async function bumpRevision(trx: Executor): Promise<void> {
  await trx.updateTable("subscription_changes").set((eb) => ({ revision: eb("revision", "+", 1) })).execute();
}

/** A subscription with its prefill: progress from the worker, completion from the snapshot's own transaction. */
function withPrefill(db: Executor) {
  return db
    .selectFrom("subscriptions as s")
    .leftJoin("prefills as p", "p.subscription_id", "s.id")
    .leftJoin("prefill_snapshots as ps", "ps.subscription_id", "s.id")
    .selectAll("s")
    .select([
      "p.status as prefill_status",
      "p.total as prefill_total",
      "p.sent as prefill_sent",
      "p.error as prefill_error",
      "ps.position as snapshot_position",
      "ps.total as snapshot_total",
    ]);
}

type PrefillColumns = {
  prefill_status: Selectable<PrefillsTable>["status"] | null;
  prefill_total: number | null;
  prefill_sent: number | null;
  prefill_error: string | null;
  snapshot_position: Selectable<PrefillSnapshotsTable>["position"] | null;
  snapshot_total: number | null;
};

const NO_PREFILL: PrefillColumns = {
  prefill_status: null,
  prefill_total: null,
  prefill_sent: null,
  prefill_error: null,
  snapshot_position: null,
  snapshot_total: null,
};

function toPrefill(row: Selectable<SubscriptionsTable> & PrefillColumns): Prefill {
  if (!row.prefill_enabled) return { enabled: false, status: "done", total: 0, sent: 0, position: null, error: null };
  if (row.snapshot_position !== null) {
    const total = row.snapshot_total ?? 0;
    return { enabled: true, status: "done", total, sent: total, position: row.snapshot_position, error: null };
  }
  return {
    enabled: true,
    status: row.prefill_status === "done" || row.prefill_status === null ? "pending" : row.prefill_status,
    total: row.prefill_total ?? 0,
    sent: row.prefill_sent ?? 0,
    position: null,
    error: row.prefill_error,
  };
}

function toSubscription(row: Selectable<SubscriptionsTable> & PrefillColumns): Subscription {
  return {
    id: row.id,
    fingerprint: row.request_fingerprint,
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
    failingSince: row.failing_since,
    ...(row.slo_max_lag_seconds !== null ? { slo: { maxLagSeconds: row.slo_max_lag_seconds } } : {}),
    prefillState: toPrefill(row),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
