import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import { FiltersSchema, type Filter } from "../../core/filters.js";

export interface PrefillJob {
  subscriptionId: string;
  filters: Filter[];
  /** The first live sequence the subscription receives: the snapshot must cover everything before it. */
  startSeq: number;
}

/** Prefills waiting to run, claimed by one worker at a time; a worker that stops heart-beating loses its claim. */
export interface PrefillQueue {
  claim(owner: string, staleAfterSeconds: number): Promise<PrefillJob | undefined>;
  /** Records progress and keeps the claim alive; false when the claim was lost (taken over or deleted). */
  heartbeat(subscriptionId: string, owner: string, progress: { total: number; sent: number }): Promise<boolean>;
  complete(subscriptionId: string, owner: string): Promise<void>;
  fail(subscriptionId: string, owner: string, error: string): Promise<void>;
  /** Hands a claim back (graceful shutdown), so the next worker starts it at once. */
  release(subscriptionId: string, owner: string): Promise<void>;
  /** Queues a failed prefill again; false when it is not failed. */
  retry(subscriptionId: string): Promise<boolean>;
}

export class PostgresPrefillQueue implements PrefillQueue {
  constructor(private readonly db: Executor) {}

  async claim(owner: string, staleAfterSeconds: number): Promise<PrefillJob | undefined> {
    const claimed = await sql<{ subscription_id: string; filters: unknown; start_seq: number }>`
      WITH next AS (
        SELECT q.subscription_id FROM prefills q
        WHERE (q.status = 'pending' OR (q.status = 'running' AND q.heartbeat_at < now() - make_interval(secs => ${staleAfterSeconds})))
          AND NOT EXISTS (SELECT 1 FROM prefill_snapshots s WHERE s.subscription_id = q.subscription_id)
        ORDER BY q.updated_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE prefills p SET status = 'running', owner = ${owner}, heartbeat_at = now(), started_at = now(),
          total = 0, sent = 0, error = NULL, updated_at = now()
        FROM next WHERE p.subscription_id = next.subscription_id
        RETURNING p.subscription_id
      )
      SELECT s.id AS subscription_id, s.filters, s.start_seq FROM claimed JOIN subscriptions s ON s.id = claimed.subscription_id
    `.execute(this.db);
    const row = claimed.rows[0];
    return row && { subscriptionId: row.subscription_id, filters: FiltersSchema.parse(row.filters), startSeq: row.start_seq };
  }

  async heartbeat(subscriptionId: string, owner: string, progress: { total: number; sent: number }): Promise<boolean> {
    const result = await this.db
      .updateTable("prefills")
      .set({ heartbeat_at: new Date(), total: progress.total, sent: progress.sent, updated_at: new Date() })
      .where("subscription_id", "=", subscriptionId)
      .where("owner", "=", owner)
      .where("status", "=", "running")
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async complete(subscriptionId: string, owner: string): Promise<void> {
    await this.db
      .updateTable("prefills")
      .set((eb) => ({ status: "done", sent: eb.ref("total"), updated_at: new Date() }))
      .where("subscription_id", "=", subscriptionId)
      .where("owner", "=", owner)
      .execute();
  }

  async fail(subscriptionId: string, owner: string, error: string): Promise<void> {
    await this.db
      .updateTable("prefills")
      .set({ status: "failed", error, updated_at: new Date() })
      .where("subscription_id", "=", subscriptionId)
      .where("owner", "=", owner)
      .execute();
  }

  async release(subscriptionId: string, owner: string): Promise<void> {
    await this.db
      .updateTable("prefills")
      .set({ status: "pending", owner: null, heartbeat_at: null, updated_at: new Date() })
      .where("subscription_id", "=", subscriptionId)
      .where("owner", "=", owner)
      .where("status", "=", "running")
      .execute();
  }

  async retry(subscriptionId: string): Promise<boolean> {
    const result = await this.db
      .updateTable("prefills")
      .set({ status: "pending", owner: null, error: null, total: 0, sent: 0, updated_at: new Date() })
      .where("subscription_id", "=", subscriptionId)
      .where("status", "=", "failed")
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}
