import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { phaseCode, phaseName, type Phase } from "../../../mom/ledger/ledger.js";
import type { OperationalEvents } from "../../operations/operational-events.js";
import { bumpRevision } from "../../subscriptions/subscription-store.js";

export interface SigningSecret {
  secret: string;
  /** Null for the current secret; set for one being rotated out. */
  expiresAt: Date | null;
}

export interface Attempt {
  id: number;
  phase: Phase;
  sequence: number;
  attempt: number;
  webhookId: string;
  url: string;
  startedAt: Date;
  outcome: "succeeded" | "failed";
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

export type NewAttempt = Omit<Attempt, "id"> & { subscriptionId: string };

/** What push delivery keeps in the database besides the ledger: secrets, the attempt log, endpoint health. */
export interface PushStore {
  secrets(subscriptionIds: readonly string[]): Promise<Map<string, SigningSecret[]>>;
  recordAttempts(attempts: readonly NewAttempt[]): Promise<void>;
  /** Notes that the endpoint is failing; returns since when it has failed without a success. */
  failing(subscriptionId: string): Promise<Date>;
  recovered(subscriptionId: string): Promise<void>;
  disable(subscriptionId: string, reason: string): Promise<void>;
  attempts(subscriptionId: string, outcome: "succeeded" | "failed" | undefined, limit: number, beforeId?: number): Promise<Attempt[]>;
  /** Deletes up to `batch` attempts older than the age; returns how many. */
  pruneAttempts(olderThanSeconds: number, batch: number): Promise<number>;
}

export class PostgresPushStore implements PushStore {
  constructor(
    private readonly db: Executor,
    private readonly events: OperationalEvents,
  ) {}

  async secrets(subscriptionIds: readonly string[]): Promise<Map<string, SigningSecret[]>> {
    const bySubscription = new Map<string, SigningSecret[]>();
    if (subscriptionIds.length === 0) return bySubscription;
    const rows = await this.db
      .selectFrom("push_secrets")
      .select(["subscription_id", "secret", "expires_at"])
      .where("subscription_id", "in", [...subscriptionIds])
      .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", new Date())]))
      .orderBy("id", "desc")
      .execute();
    for (const row of rows) {
      const list = bySubscription.get(row.subscription_id) ?? [];
      list.push({ secret: row.secret, expiresAt: row.expires_at });
      bySubscription.set(row.subscription_id, list);
    }
    return bySubscription;
  }

  async pruneAttempts(olderThanSeconds: number, batch: number): Promise<number> {
    const result = await sql`
      DELETE FROM delivery_attempts WHERE id IN (
        SELECT id FROM delivery_attempts WHERE started_at < now() - make_interval(secs => ${olderThanSeconds}) LIMIT ${batch}
      )
    `.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }

  async recordAttempts(attempts: readonly NewAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    await this.db
      .insertInto("delivery_attempts")
      .values(
        attempts.map((attempt) => ({
          subscription_id: attempt.subscriptionId,
          phase: phaseCode(attempt.phase),
          seq: attempt.sequence,
          attempt: attempt.attempt,
          webhook_id: attempt.webhookId,
          url: attempt.url,
          started_at: attempt.startedAt,
          outcome: attempt.outcome,
          status_code: attempt.statusCode,
          latency_ms: attempt.latencyMs,
          error: attempt.error,
        })),
      )
      .execute();
  }

  async failing(subscriptionId: string): Promise<Date> {
    const row = await sql<{ since: Date }>`
      UPDATE subscriptions SET failing_since = COALESCE(failing_since, now())
      WHERE id = ${subscriptionId} RETURNING failing_since AS since
    `.execute(this.db);
    return row.rows[0]?.since ?? new Date();
  }

  async recovered(subscriptionId: string): Promise<void> {
    await this.db.updateTable("subscriptions").set({ failing_since: null }).where("id", "=", subscriptionId).where("failing_since", "is not", null).execute();
  }

  /**
   * Disabling stops delivery, not queueing. Pumps learn of it by the revision, and the one
   * `subscription.disabled` is recorded in the same transaction, so it is published once.
   */
  async disable(subscriptionId: string, reason: string): Promise<void> {
    const disabled = await this.db.transaction().execute(async (trx) => {
      await bumpRevision(trx);
      const updated = await trx
        .updateTable("subscriptions")
        .set({ status: "disabled", status_reason: reason, updated_at: new Date() })
        .where("id", "=", subscriptionId)
        .where("status", "<>", "disabled")
        .returning("name")
        .executeTakeFirst();
      if (!updated) return false;
      await this.events.record(trx, "subscription.disabled", updated.name, { subscription: updated.name, subscriptionId, reason });
      return true;
    });
    if (disabled) this.events.kick();
  }

  async attempts(subscriptionId: string, outcome: "succeeded" | "failed" | undefined, limit: number, beforeId?: number): Promise<Attempt[]> {
    let query = this.db
      .selectFrom("delivery_attempts")
      .selectAll()
      .where("subscription_id", "=", subscriptionId)
      .orderBy("id", "desc")
      .limit(limit);
    if (outcome) query = query.where("outcome", "=", outcome);
    if (beforeId !== undefined) query = query.where("id", "<", beforeId);
    const rows = await query.execute();
    return rows.map((row) => ({
      id: row.id,
      phase: phaseName(row.phase),
      sequence: row.seq,
      attempt: row.attempt,
      webhookId: row.webhook_id,
      url: row.url,
      startedAt: row.started_at,
      outcome: row.outcome,
      statusCode: row.status_code,
      latencyMs: row.latency_ms,
      error: row.error,
    }));
  }
}
