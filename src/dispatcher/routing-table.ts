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

  constructor(private readonly directory: SubscriptionDirectory) {}

  async refresh(): Promise<void> {
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
