import type { Logger } from "../../../core/logger.js";
import { Outage } from "../../../core/outage.js";
import type { Subscription } from "../../subscriptions/subscription.js";
import type { SubscriptionStore } from "../../subscriptions/subscription-store.js";
import type { PushEndpoint, PushPump } from "./push-pump.js";
import type { PushStore } from "./push-store.js";

const CHECK_MS = 500;
/** Secrets rotated out expire without any other change: look at them this often regardless. */
const FULL_RELOAD_MS = 30_000;

/**
 * Keeps one pump per push subscription this process holds the lease of (`own`/`disown`, called
 * by the work coordinator): starts them, hands them new settings (URL, format, secrets, pause)
 * when the subscription revision moves, and stops them when a subscription is deleted or
 * disabled, or its lease moves to another process.
 */
export class PushSupervisor {
  private readonly pumps = new Map<string, PushPump>();
  private revision = -1;
  private loadedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private readonly outage: Outage;
  private readonly owned = new Set<string>();

  constructor(
    private readonly subscriptions: SubscriptionStore,
    private readonly store: PushStore,
    private readonly makePump: (endpoint: PushEndpoint) => PushPump,
    logger: Logger,
    /** Called when the set of push subscriptions may have changed, so their leases are looked at soon. */
    private readonly onChange: () => void = () => {},
  ) {
    this.outage = new Outage(logger, "push subscriptions reload");
  }

  /** Ids of the push subscriptions that need a pump somewhere. */
  async deliverableIds(): Promise<string[]> {
    return (await this.subscriptions.listPush()).filter(deliverable).map((subscription) => subscription.id);
  }

  async own(subscriptionId: string): Promise<void> {
    this.owned.add(subscriptionId);
    await this.reconciling;
    this.revision = -1;
    await this.reconcile();
  }

  /** Stops the pump (its requests in flight settle first); no new one starts for it here. */
  async disown(subscriptionId: string): Promise<void> {
    this.owned.delete(subscriptionId);
    await this.reconciling;
    const pump = this.pumps.get(subscriptionId);
    this.pumps.delete(subscriptionId);
    await pump?.stop();
  }

  start(): void {
    this.timer = setInterval(() => void this.reconcile(), CHECK_MS);
    void this.reconcile();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.reconciling;
    await Promise.all([...this.pumps.values()].map((pump) => pump.stop()));
    this.pumps.clear();
  }

  /** Pumps running in this process, by the status they act on. */
  pumpsByStatus(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const pump of this.pumps.values()) counts.set(pump.status, (counts.get(pump.status) ?? 0) + 1);
    return counts;
  }

  private reconcile(): Promise<void> {
    this.reconciling ??= this.load()
      .then(
        () => this.outage.succeeded(),
        (error: unknown) => void this.outage.failed(error),
      )
      .finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private async load(): Promise<void> {
    const revision = await this.subscriptions.revision();
    if (revision === this.revision && Date.now() - this.loadedAt < FULL_RELOAD_MS) return;
    if (revision !== this.revision) this.onChange();
    const subscriptions = await this.subscriptions.listPush();
    const secrets = await this.store.secrets(subscriptions.map((subscription) => subscription.id));
    const wanted = new Map<string, PushEndpoint>();
    for (const subscription of subscriptions.filter((subscription) => deliverable(subscription) && this.owned.has(subscription.id))) {
      wanted.set(subscription.id, { subscription, secrets: secrets.get(subscription.id) ?? [] });
    }
    for (const [id, pump] of this.pumps) {
      if (wanted.has(id)) continue;
      this.pumps.delete(id);
      await pump.stop();
    }
    for (const [id, endpoint] of wanted) {
      // Checked here, after every await above: a lease handed back meanwhile starts no pump.
      if (!this.owned.has(id)) continue;
      const pump = this.pumps.get(id);
      if (pump) pump.update(endpoint);
      else this.pumps.set(id, this.makePump(endpoint));
    }
    this.revision = revision;
    this.loadedAt = Date.now();
  }
}

function deliverable(subscription: Subscription): boolean {
  return subscription.status !== "disabled";
}
