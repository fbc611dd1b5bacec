import type { Logger } from "../core/logger.js";
import type { Metrics } from "../core/metrics.js";
import { asStoredNotification } from "../core/notifications/envelope.js";
import type { Broker, StreamMessage } from "../mom/broker.js";
import type { Lease } from "../mom/cluster/leases.js";
import type { DeliveryLedger, JournalEntry, LiveDelivery } from "../mom/ledger/ledger.js";
import type { RoutingTable } from "./routing-table.js";

const decoder = new TextDecoder();

/**
 * Fans a batch of one partition out to the matching subscriptions. Journal rows, delivery rows
 * and the partition's position are written in one statement, so a crash at any point either
 * keeps all of it or none, and the batch is read again from the old position: no loss, no duplicate.
 */
export class Dispatcher {
  constructor(
    private readonly routing: RoutingTable,
    private readonly ledger: DeliveryLedger,
    private readonly broker: Broker,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  async dispatch(reader: string, batch: StreamMessage[], lease?: Lease): Promise<void> {
    await this.routing.refresh();
    const entries: JournalEntry[] = [];
    const deliveries: LiveDelivery[] = [];
    for (const message of batch) {
      const entry = this.decode(message);
      if (!entry) continue;
      entries.push(entry.journal);
      for (const subscriptionId of this.routing.route(message.seq, entry.notification)) {
        deliveries.push({ subscriptionId, seq: message.seq, subject: entry.notification.subject });
      }
    }
    const created = await this.ledger.appendLive({ reader, position: batch[batch.length - 1]!.seq, lease, entries, deliveries });
    let total = 0;
    for (const [subscriptionId, count] of created) {
      total += count;
      this.broker.wake(subscriptionId);
    }
    this.metrics.notificationsDispatched.inc(total);
    this.logger.debug({ reader, notifications: entries.length, deliveries: total }, "batch dispatched");
  }

  /** Anything on the stream that is not a valid envelope is logged and skipped, never retried forever. */
  private decode(message: StreamMessage) {
    const json = decoder.decode(message.data);
    let notification;
    try {
      notification = asStoredNotification(JSON.parse(json));
    } catch {
      notification = undefined;
    }
    if (!notification) {
      this.logger.error({ seq: message.seq }, "skipping a stream message that is not a notification envelope");
      return undefined;
    }
    const journal: JournalEntry = {
      seq: message.seq,
      id: notification.id,
      type: notification.type,
      subject: notification.subject,
      sourceName: notification.source.name,
      parentId: notification.parentId,
      correlationId: notification.correlationId,
      time: notification.time,
      json,
    };
    return { journal, notification };
  }
}
