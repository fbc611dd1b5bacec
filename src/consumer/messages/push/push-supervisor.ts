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
 * Keeps one pump per push subscription in this process: starts them, hands them new settings
 * (URL, format, secrets, pause) when the subscription revision moves, and stops them when a
 * subscription is deleted or disabled.
 */
export class PushSupervisor {
  private readonly pumps = new Map<string, PushPump>();
  private revision = -1;
  private loadedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private readonly outage: Outage;

  constructor(
    private readonly subscriptions: SubscriptionStore,
    private readonly store: PushStore,
    private readonly makePump: (endpoint: PushEndpoint) => PushPump,
    logger: Logger,
  ) {
    this.outage = new Outage(logger, "push subscriptions reload");
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
    const subscriptions = await this.subscriptions.listPush();
    const secrets = await this.store.secrets(subscriptions.map((subscription) => subscription.id));
    const wanted = new Map<string, PushEndpoint>();
    for (const subscription of subscriptions.filter(deliverable)) {
      wanted.set(subscription.id, { subscription, secrets: secrets.get(subscription.id) ?? [] });
    }
    for (const [id, pump] of this.pumps) {
      if (wanted.has(id)) continue;
      this.pumps.delete(id);
      await pump.stop();
    }
    for (const [id, endpoint] of wanted) {
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
