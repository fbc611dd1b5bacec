import type { Principal } from "../../core/auth/principal.js";
import { notFound } from "../../core/errors.js";
import type { StoredNotification } from "../../core/notifications/envelope.js";
import type { NotificationJournal, TraceNode } from "../../mom/journal/journal.js";

export interface TraceTree {
  notification: StoredNotification;
  children: TraceTree[];
}

const MAX_TRACE_NODES = 10_000;

/** Reads the journal: a notification with where it went, and its causal tree. */
export class InspectNotifications {
  constructor(private readonly journal: NotificationJournal) {}

  /** Producers see what they published; the admin sees everything. */
  async describe(id: string, principal: Principal) {
    const entry = await this.visibleEntry(id, principal);
    const removedBefore = await this.journal.removedBefore("deliveries");
    return {
      sequence: entry.seq,
      acceptedAt: entry.acceptedAt,
      notification: JSON.parse(entry.json) as StoredNotification,
      deliveries: await this.journal.deliveryStates(entry.seq),
      // Finished deliveries older than the retention are gone: the list may lack them.
      pastRetention: { truncated: removedBefore !== null && entry.acceptedAt < removedBefore, removedBefore: removedBefore?.toISOString() ?? null },
    };
  }

  async trace(id: string, principal: Principal) {
    const entry = await this.visibleEntry(id, principal);
    const { ancestors, descendants } = await this.journal.trace(id, MAX_TRACE_NODES);
    const notification = JSON.parse(entry.json) as StoredNotification;
    const parsedAncestors = ancestors.map((node) => JSON.parse(node.json) as StoredNotification);
    const removedBefore = await this.journal.removedBefore("journal");
    // The oldest ancestor found still names a parent: it was there, retention removed it.
    const oldest = parsedAncestors[0] ?? notification;
    return {
      notification,
      ancestors: parsedAncestors,
      descendants: buildTree(id, descendants),
      pastRetention: { truncated: removedBefore !== null && oldest.parentId !== null, removedBefore: removedBefore?.toISOString() ?? null },
    };
  }

  private async visibleEntry(id: string, principal: Principal) {
    const entry = await this.journal.find(id);
    // Another producer's notification is reported as unknown rather than forbidden: ids do not leak.
    if (!entry || (principal.kind === "producer" && entry.sourceName !== principal.name)) {
      throw notFound(`notification ${id} (it is journaled within moments of being accepted; retry shortly if it was just posted)`);
    }
    return entry;
  }
}

function buildTree(rootId: string, nodes: TraceNode[]): TraceTree[] {
  const children = new Map<string, TraceNode[]>();
  for (const node of nodes) {
    const siblings = children.get(node.parentId ?? "") ?? [];
    siblings.push(node);
    children.set(node.parentId ?? "", siblings);
  }
  const grow = (id: string): TraceTree[] =>
    (children.get(id) ?? []).map((node) => ({ notification: JSON.parse(node.json) as StoredNotification, children: grow(node.id) }));
  return grow(rootId);
}

