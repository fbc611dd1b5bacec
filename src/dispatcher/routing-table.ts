import { compileFilters, type Matchable, type Matcher } from "../core/filters.js";
import type { SubscriptionDirectory } from "./subscription-directory.js";

interface Route {
  subscriptionId: string;
  startSeq: number;
  matches: Matcher;
}

/**
 * The compiled subscriptions and the revision they were read at. The dispatcher routes with
 * the table as it is and names its revision in the append, which writes nothing when the
 * subscriptions have moved on since; only then is the table read again.
 */
export class RoutingTable {
  private loaded: Promise<void> | undefined;
  private routes: Route[] = [];
  private readRevision = -1;

  constructor(private readonly directory: SubscriptionDirectory) {}

  /** The subscriptions' revision the table was read at; -1 before the first read. */
  get revision(): number {
    return this.readRevision;
  }

  /** The table of the first batch, read once however many batches wait for it. */
  ready(): Promise<void> {
    this.loaded ??= this.reload();
    return this.loaded;
  }

  /** Reads every subscription again, in one snapshot. */
  async reload(): Promise<void> {
    const reading = this.directory.snapshot().then((snapshot) => {
      // Two reloads may answer out of order; revisions only grow.
      if (snapshot.revision < this.readRevision) return;
      // Paused and disabled subscriptions keep queueing: resuming delivers what came meanwhile.
      this.routes = snapshot.subscriptions.map((subscription) => ({
        subscriptionId: subscription.id,
        startSeq: subscription.startSeq,
        matches: compileFilters(subscription.filters),
      }));
      this.readRevision = snapshot.revision;
    });
    this.loaded = reading.catch((error) => {
      this.loaded = undefined;
      throw error;
    });
    return this.loaded;
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
