import type { Executor } from "../../core/db/schema.js";
import type {
  AckId,
  AppendLiveInput,
  AppendLiveOutcome,
  DeadLetter,
  DeadLetterCursor,
  DeliveryLedger,
  LeaseResult,
  LeaseTarget,
  LedgerStats,
  NackItem,
  Phase,
  SettleOutcome,
} from "./ledger.js";
import { appendLive, appendPrefillMarker, appendSnapshot, journaledThrough, position, type SnapshotPage } from "./postgres/append.js";
import { deadLetters } from "./postgres/dead-letters.js";
import { lease } from "./postgres/lease.js";
import { redrive } from "./postgres/redrive.js";
import { ack, nack, reject } from "./postgres/settle.js";
import { pendingBySubscription, stats } from "./postgres/stats.js";
import { queuePosition, type QueuePosition } from "./postgres/position.js";
import { releaseWaiting } from "./postgres/release.js";
import { rewind, sequenceAt, type RewindRequest, type RewindResult } from "./postgres/rewind.js";
import { deliveryTelemetry, type DeliveryTelemetry } from "./postgres/subscription-stats.js";

export type { SnapshotPage } from "./postgres/append.js";

/**
 * The delivery ledger in PostgreSQL: one file per operation under `postgres/`, and nothing
 * outside this folder writes its tables.
 *
 * Invariant: every (subscription, subject) with pending live rows has exactly one head, its
 * lowest pending row (a redriven message waits behind the head it finds), and only heads are
 * handed out; prefill rows are each their own head. A unique index admits one live head per
 * subject; whoever queues behind a head and whoever finishes it take that head's row lock, so a
 * finished head's successor is always found and promoted, even while the dispatcher adds to the
 * subject (see postgres/append.ts and postgres/settle.ts). No other row is written per subject.
 */
export class PostgresDeliveryLedger implements DeliveryLedger {
  constructor(private readonly db: Executor) {}

  /** The same ledger inside an open transaction (the prefill's snapshot commits with its own rows). */
  within(trx: Executor): PostgresDeliveryLedger {
    return new PostgresDeliveryLedger(trx);
  }

  position(reader: string): Promise<number> {
    return position(this.db, reader);
  }

  appendLive(input: AppendLiveInput): Promise<AppendLiveOutcome> {
    return appendLive(this.db, input);
  }

  journaledThrough(): Promise<number> {
    return journaledThrough(this.db);
  }

  /** Queues a page of prefill messages numbered on from `after`; returns how many and the last subject. */
  appendSnapshot(subscriptionId: string, after: number, page: SnapshotPage): Promise<{ copied: number; last: string | null }> {
    return appendSnapshot(this.db, subscriptionId, after, page);
  }

  /** The prefill's boundary marker, after its last snapshot row. */
  appendPrefillMarker(subscriptionId: string, seq: number): Promise<void> {
    return appendPrefillMarker(this.db, subscriptionId, seq);
  }

  lease(target: LeaseTarget, max: number): Promise<LeaseResult> {
    return lease(this.db, target, max);
  }

  ack(subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]> {
    return ack(this.db, subscriptionId, ackIds);
  }

  nack(target: LeaseTarget, items: NackItem[]): Promise<SettleOutcome[]> {
    return nack(this.db, target, items);
  }

  reject(subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]> {
    return reject(this.db, subscriptionId, ackIds);
  }

  deadLetters(subscriptionId: string, limit: number, after?: DeadLetterCursor): Promise<DeadLetter[]> {
    return deadLetters(this.db, subscriptionId, limit, after);
  }

  redrive(subscriptionId: string, only?: Array<{ phase: Phase; sequence: number }>): Promise<number> {
    return redrive(this.db, subscriptionId, only);
  }

  stats(target: LeaseTarget): Promise<LedgerStats> {
    return stats(this.db, target);
  }

  pendingBySubscription(): Promise<Map<string, number>> {
    return pendingBySubscription(this.db);
  }

  releaseWaiting(subscriptionId: string): Promise<number> {
    return releaseWaiting(this.db, subscriptionId);
  }

  rewind(request: RewindRequest): Promise<RewindResult> {
    return rewind(this.db, request);
  }

  sequenceAt(time: Date): Promise<number | undefined> {
    return sequenceAt(this.db, time);
  }

  queuePosition(subscriptionId: string, leaseSeconds: number, startSeq: number): Promise<QueuePosition> {
    return queuePosition(this.db, subscriptionId, leaseSeconds, startSeq);
  }

  telemetry(windowSeconds: number, subscriptionId?: string): Promise<Map<string, DeliveryTelemetry>> {
    return deliveryTelemetry(this.db, windowSeconds, subscriptionId);
  }
}
