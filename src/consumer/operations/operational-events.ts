import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import { uuidv7 } from "../../core/ids.js";
import type { Logger } from "../../core/logger.js";
import type { Notification } from "../../core/notifications/envelope.js";
import type { OperationalData, OperationalType } from "../../core/notifications/operational.js";
import type { Broker } from "../../mom/broker.js";
import { sharePeriodic, type WorkCoordinator } from "../../mom/cluster/coordinator.js";

/** Name in `source.name` of every notification certflow makes about itself. */
export const CERTFLOW_SOURCE = "certflow";
const RELAY_INTERVAL_MS = 5_000;
const RELAY_BATCH = 100;

/**
 * Operational notifications (`subscription.*`). An event is recorded in the transaction of the
 * change it reports, with its id fixed there; a relay publishes what is recorded, in order, on
 * the process's one NATS connection. A crash between commit and publish is repaired by the next
 * relay, and a publish repeated after a crash carries the same id, so the broker (within its
 * duplicate window) or the journal (after it) keeps it once.
 */
export class OperationalEvents {
  private relaying: Promise<void> | undefined;

  constructor(
    private readonly db: Executor,
    private readonly broker: Broker,
    private readonly version: string,
    private readonly logger: Logger,
  ) {}

  /** Records an event in the caller's transaction; nothing is published if it rolls back. */
  async record<T extends OperationalType>(trx: Executor, type: T, subject: string, data: OperationalData<T>): Promise<void> {
    const id = uuidv7();
    const notification: Notification = {
      id,
      type,
      source: { name: CERTFLOW_SOURCE, version: this.version },
      time: new Date().toISOString(),
      subject,
      parentId: null,
      correlationId: id,
      channel: "internal",
      data,
    };
    await trx.insertInto("operational_outbox").values({ id, envelope: JSON.stringify(notification) }).execute();
  }

  /** Removes published events older than `ageSeconds` (they live on in the journal while it keeps them). */
  async prunePublished(ageSeconds: number, batch: number): Promise<number> {
    const result = await sql`
      DELETE FROM operational_outbox o USING (
        SELECT seq FROM operational_outbox WHERE published_at < now() - make_interval(secs => ${ageSeconds}) ORDER BY seq LIMIT ${batch}
      ) old
      WHERE o.seq = old.seq
    `.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }

  /** Publishes what a crash left behind; the periodic sweep runs under a lease (`shareSweep`). */
  start(): void {
    this.kick();
  }

  /** The sweep for what a broker outage left behind, in one live consumer process at a time. */
  shareSweep(work: WorkCoordinator): void {
    sharePeriodic(
      work,
      {
        name: "operational-outbox",
        service: "consumer",
        intervalMs: RELAY_INTERVAL_MS,
        run: async () => {
          this.kick();
          await this.relaying;
        },
      },
      this.logger,
    );
  }

  async stop(): Promise<void> {
    await this.relaying;
  }

  /** Publishes what is waiting soon; called after a change that recorded an event. */
  kick(): void {
    this.relaying ??= this.relay()
      .catch((error: unknown) => this.logger.warn({ err: error }, "could not publish operational notifications; will try again"))
      .finally(() => (this.relaying = undefined));
  }

  private async relay(): Promise<void> {
    for (;;) {
      const rows = await this.db
        .selectFrom("operational_outbox")
        .select(["seq", "envelope"])
        .where("published_at", "is", null)
        .orderBy("seq")
        .limit(RELAY_BATCH)
        .execute();
      if (rows.length === 0) return;
      for (const row of rows) {
        const notification = row.envelope as Notification;
        await this.broker.publish(notification);
        await this.db.updateTable("operational_outbox").set({ published_at: new Date() }).where("seq", "=", row.seq).execute();
        this.logger.info({ notificationId: notification.id, type: notification.type, subscription: notification.subject }, "operational notification published");
      }
    }
  }
}
