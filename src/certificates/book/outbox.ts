import { sql, type QueryCreator } from "kysely";
import type { Database, Executor } from "../../core/db/schema.js";
import type { Logger } from "../../core/logger.js";
import { Outage } from "../../core/outage.js";
import type { Notification } from "../../core/notifications/envelope.js";
import type { Broker } from "../../mom/broker.js";
import { sharePeriodic, type WorkCoordinator } from "../../mom/cluster/coordinator.js";

const BATCH = 500;
const INTERVAL_MS = 5_000;

/** Adds notifications to the outbox in the caller's transaction, beside the change they describe. */
export async function enqueueNotifications(executor: Executor, notifications: readonly Notification[]): Promise<void> {
  for (let offset = 0; offset < notifications.length; offset += 5_000) {
    await outboxInsert(executor, notifications.slice(offset, offset + 5_000)).execute();
  }
}

/** The outbox insert of some notifications, as a statement of its own or a data-modifying CTE of another (`creator` is then the CTE's). */
export function outboxInsert(creator: Pick<QueryCreator<Database>, "insertInto">, notifications: readonly Notification[]) {
  return creator
    .insertInto("registry_outbox")
    .columns(["id", "subject", "envelope"])
    .expression(sql`SELECT * FROM unnest(${notifications.map((n) => n.id)}::uuid[], ${notifications.map((n) => n.subject)}::text[], ${notifications.map((n) => JSON.stringify(n))}::json[])`)
    .onConflict((conflict) => conflict.column("id").doNothing());
}

/**
 * Publishes the outbox in commit order and deletes what the broker stored. One drain at a time
 * across processes (an advisory lock), and a failed publish stops the batch there, so a
 * certificate's notifications reach the stream in version order. Runs after each command, in
 * whichever process committed it, and at start-up (what a crash left behind); the sweep on a
 * timer (what a broker outage left behind) runs in one process, under the `registry-outbox` lease.
 */
export class OutboxRelay {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private readonly outage: Outage;

  constructor(
    private readonly db: Executor,
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {
    this.outage = new Outage(logger, "outbox relay");
  }

  /** Resolves once a pass that began after this call has emptied the outbox. */
  flush(): Promise<void> {
    if (!this.running) {
      this.running = this.drain().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.flush();
      });
    return this.next;
  }

  /** Publishes after a command; a failure is logged and left to the timer, the change is committed. */
  async flushQuietly(): Promise<void> {
    await this.flush().then(
      () => this.outage.succeeded(),
      (error: unknown) => void this.outage.failed(error),
    );
  }

  /** Publishes what a crash left behind; the periodic sweep is `shareOutboxSweep`'s. */
  start(): void {
    void this.flushQuietly();
  }

  async stop(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  private async drain(): Promise<void> {
    let published = 0;
    for (;;) {
      const batch = await this.db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/registry-outbox', 0))`.execute(trx);
        const rows = await trx.selectFrom("registry_outbox").select(["seq", "envelope"]).orderBy("seq").limit(BATCH).execute();
        if (rows.length === 0) return { read: 0, error: undefined };
        const results = await this.broker.publishMany(rows.map((row) => row.envelope as Notification));
        const failed = results.findIndex((result) => result instanceof Error);
        const done = failed === -1 ? rows : rows.slice(0, failed);
        if (done.length > 0) await trx.deleteFrom("registry_outbox").where("seq", "in", done.map((row) => row.seq)).execute();
        return { read: rows.length, error: failed === -1 ? undefined : (results[failed] as Error) };
      });
      // What was stored is deleted (committed) before a failure is reported.
      if (batch.error) throw batch.error;
      published += batch.read;
      if (batch.read < BATCH) break;
    }
    if (published > 0) this.logger.debug({ published }, "outbox published");
  }
}

/**
 * The outbox sweep in one live process of those running `service`. The lease only spares the
 * other processes the work: the drain's advisory lock is what orders publishing, so a stale
 * owner's sweep is one more drain that waits its turn and finds the rows already gone.
 */
export function shareOutboxSweep(work: WorkCoordinator, relay: OutboxRelay, service: string, logger: Logger): void {
  sharePeriodic(work, { name: "registry-outbox", service, intervalMs: INTERVAL_MS, run: () => relay.flushQuietly() }, logger);
}
