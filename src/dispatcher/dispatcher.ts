import type { Logger } from "../core/logger.js";
import type { Metrics } from "../core/metrics.js";
import { asStoredNotification, type StoredNotification } from "../core/notifications/envelope.js";
import type { Broker, StreamMessage } from "../mom/broker.js";
import { LeaseLostError, type Lease } from "../mom/cluster/leases.js";
import type { AppendLiveOutcome, DeliveryLedger, JournalEntry, LiveDelivery, ReaderBatch } from "../mom/ledger/ledger.js";
import type { RoutingTable } from "./routing-table.js";

const decoder = new TextDecoder();

/** Appends in flight at once; each partition has at most one batch in any of them, so order holds. */
const APPENDS_IN_FLIGHT = 2;
/** Notifications per append: a full backlog of every partition is split over the appends in flight. */
const MAX_APPEND_ENTRIES = 2_000;

interface Decoded {
  journal: JournalEntry;
  notification: StoredNotification;
}

interface Waiting {
  reader: string;
  position: number;
  lease?: Lease;
  decoded: Decoded[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Fans the partitions' batches out to the matching subscriptions. The batches that are ready
 * together (read from the same socket reads, or queued while an append was in flight) go to
 * PostgreSQL as one append: journal rows, delivery rows and every partition's position in one
 * statement, so a crash at any point keeps all of it or none, and the batches are read again
 * from the old positions: no loss, no duplicate.
 */
export class Dispatcher {
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  private flushScheduled = false;

  constructor(
    private readonly routing: RoutingTable,
    private readonly ledger: DeliveryLedger,
    private readonly broker: Broker,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Resolves once the batch is durably dispatched; rejects with LeaseLostError once the reader's lease moved on. */
  dispatch(reader: string, batch: StreamMessage[], lease?: Lease): Promise<void> {
    const decoded = batch.map((message) => this.decode(message)).filter((entry) => entry !== undefined);
    return new Promise((resolve, reject) => {
      this.waiting.push({ reader, position: batch[batch.length - 1]!.seq, lease, decoded, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** After the current I/O callbacks, so that partitions whose messages came in the same reads share the append. */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.inFlight >= APPENDS_IN_FLIGHT || this.waiting.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.inFlight >= APPENDS_IN_FLIGHT) return;
      const taken = this.takeWaiting();
      if (taken.length === 0) return;
      this.inFlight++;
      void this.append(taken).finally(() => {
        this.inFlight--;
        this.scheduleFlush();
      });
      this.scheduleFlush();
    });
  }

  private takeWaiting(): Waiting[] {
    let entries = 0;
    let count = 0;
    while (count < this.waiting.length && (count === 0 || entries + this.waiting[count]!.decoded.length <= MAX_APPEND_ENTRIES)) {
      entries += this.waiting[count]!.decoded.length;
      count++;
    }
    return this.waiting.splice(0, count);
  }

  private async append(taken: Waiting[]): Promise<void> {
    try {
      await this.routing.ready();
      let outcome = await this.appendRouted(taken);
      while (outcome.stale) {
        await this.routing.reload();
        outcome = await this.appendRouted(taken);
      }
      let total = 0;
      for (const [subscriptionId, count] of outcome.created) {
        total += count;
        this.broker.wake(subscriptionId);
      }
      this.metrics.notificationsDispatched.inc(total);
      this.logger.debug({ readers: taken.length, deliveries: total }, "batches dispatched");
      for (const waiting of taken) {
        if (outcome.lostReaders.has(waiting.reader)) waiting.reject(new LeaseLostError(waiting.lease!));
        else waiting.resolve();
      }
    } catch (error) {
      for (const waiting of taken) waiting.reject(error);
    }
  }

  /** Routes the batches with the table as it is now and names its revision. */
  private appendRouted(taken: Waiting[]): Promise<AppendLiveOutcome> {
    return this.ledger.appendLive({ routedRevision: this.routing.revision, batches: taken.map((waiting) => this.route(waiting)) });
  }

  private route(waiting: Waiting): ReaderBatch {
    const deliveries: LiveDelivery[] = [];
    for (const { journal, notification } of waiting.decoded) {
      for (const subscriptionId of this.routing.route(journal.seq, notification)) {
        deliveries.push({ subscriptionId, seq: journal.seq, subject: journal.subject });
      }
    }
    return { reader: waiting.reader, position: waiting.position, lease: waiting.lease, entries: waiting.decoded.map((entry) => entry.journal), deliveries };
  }

  /** Anything on the stream that is not a valid envelope is logged and skipped, never retried forever. */
  private decode(message: StreamMessage): Decoded | undefined {
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
