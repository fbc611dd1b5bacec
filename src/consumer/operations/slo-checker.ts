import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import type { Logger } from "../../core/logger.js";
import type { DeliveryLedger } from "../../mom/ledger/ledger.js";
import type { OperationalEvents } from "./operational-events.js";

export interface SloState {
  maxLagSeconds: number;
  /** Since when the subscription has been in breach; null while it meets its SLO. */
  laggingSince: Date | null;
  /** Breaches so far. */
  breaches: number;
}

/**
 * Watches the subscriptions that declare `slo.maxLagSeconds`: when the oldest waiting message
 * gets older than that, one `subscription.lagging`; when it no longer is, one
 * `subscription.recovered`. The breach state and the event commit together, and the state
 * changes only from its other value, so each is published once per breach, whichever process
 * (or how many) runs the check.
 */
export class SloChecker {
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly db: Executor,
    private readonly ledger: DeliveryLedger,
    private readonly events: OperationalEvents,
    private readonly intervalSeconds: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.checkSoon(), this.intervalSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.checking;
  }

  private checkSoon(): Promise<void> {
    this.checking ??= this.check()
      .catch((error: unknown) => this.logger.warn({ err: error }, "SLO check failed; will try again"))
      .finally(() => (this.checking = undefined));
    return this.checking;
  }

  async state(subscriptionId: string): Promise<Omit<SloState, "maxLagSeconds">> {
    const row = await this.db.selectFrom("subscription_lag").select(["lagging_since", "breaches"]).where("subscription_id", "=", subscriptionId).executeTakeFirst();
    return { laggingSince: row?.lagging_since ?? null, breaches: row?.breaches ?? 0 };
  }

  async check(): Promise<void> {
    const watched = await sql<{ id: string; name: string; start_seq: number; max_lag: number; lagging_since: Date | null }>`
      SELECT s.id, s.name, s.start_seq, s.slo_max_lag_seconds AS max_lag, l.lagging_since
      FROM subscriptions s LEFT JOIN subscription_lag l ON l.subscription_id = s.id
      WHERE s.slo_max_lag_seconds IS NOT NULL
    `.execute(this.db);
    for (const subscription of watched.rows) {
      const position = await this.ledger.queuePosition(subscription.id, 0, subscription.start_seq);
      const age = position.oldestPendingAgeSeconds;
      const breached = age > subscription.max_lag;
      if (breached === (subscription.lagging_since !== null)) continue;
      const { pending } = await this.ledger.stats({ id: subscription.id, ackTimeoutSeconds: 0, maxDeliveries: 0, liveFromSeq: subscription.start_seq });
      const data = { subscription: subscription.name, subscriptionId: subscription.id, maxLagSeconds: subscription.max_lag, oldestPendingAgeSeconds: age, pending };
      const changed = await this.db.transaction().execute(async (trx) => {
        const moved = await sql`
          INSERT INTO subscription_lag AS l (subscription_id, lagging_since, breaches)
          VALUES (${subscription.id}, ${breached ? sql`now()` : null}, ${breached ? 1 : 0})
          ON CONFLICT (subscription_id) DO UPDATE SET
            lagging_since = EXCLUDED.lagging_since, breaches = l.breaches + EXCLUDED.breaches
          WHERE (l.lagging_since IS NULL) = ${breached}
        `.execute(trx);
        if (Number(moved.numAffectedRows ?? 0) === 0) return false;
        await this.events.record(trx, breached ? "subscription.lagging" : "subscription.recovered", subscription.name, data);
        return true;
      });
      if (!changed) continue;
      this.events.kick();
      this.logger.warn({ subscription: subscription.name, oldestPendingAgeSeconds: age, maxLagSeconds: subscription.max_lag }, breached ? "subscription lagging" : "subscription recovered");
    }
  }
}
