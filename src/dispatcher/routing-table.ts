import { compileFilters, type Matchable, type Matcher } from "../core/filters.js";
import type { SubscriptionDirectory } from "./subscription-directory.js";

interface Route {
  subscriptionId: string;
  startSeq: number;
  matches: Matcher;
}

/**
 * The compiled subscriptions. Before each batch the dispatcher asks for the current table: one
 * cheap revision read, and a full reload in one snapshot when anything changed. A subscription
 * committed before its 201 is therefore routed for every notification accepted after that 201.
 */
export class RoutingTable {
  private revision = -1;
  private routes: Route[] = [];
  private inFlight: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly directory: SubscriptionDirectory) {}

  /**
   * Partitions dispatch at the same time, so their checks share reads: while one is in flight
   * (it may have started before the caller's batch was read), callers share one more that
   * starts after it, and so sees every subscription committed before their batches were read.
   */
  refresh(): Promise<void> {
    if (!this.inFlight) return this.start();
    this.next ??= this.inFlight
      .catch(() => {})
      .then(() => {
        this.next = undefined;
        return this.start();
      });
    return this.next;
  }

  private start(): Promise<void> {
    const reading = this.load().finally(() => {
      if (this.inFlight === reading) this.inFlight = undefined;
    });
    this.inFlight = reading;
    return reading;
  }

  private async load(): Promise<void> {
    if ((await this.directory.revision()) === this.revision) return;
    const snapshot = await this.directory.snapshot();
    // Paused and disabled subscriptions keep queueing: resuming delivers what came meanwhile.
    this.routes = snapshot.subscriptions.map((subscription) => ({
      subscriptionId: subscription.id,
      startSeq: subscription.startSeq,
      matches: compileFilters(subscription.filters),
    }));
    this.revision = snapshot.revision;
  }

  /** Subscriptions that receive this notification. */
  route(seq: number, notification: Matchable): string[] {
    const matched: string[] = [];
    for (const route of this.routes) {
      if (seq >= route.startSeq && route.matches(notification)) matched.push(route.subscriptionId);
    }
    return matched;
  }
}
