import type { QueuePosition } from "./postgres/position.js";
import type { RewindRequest, RewindResult } from "./postgres/rewind.js";
import type { DeliveryTelemetry } from "./postgres/subscription-stats.js";

export type { DeliveryTelemetry, QueuePosition, RewindRequest, RewindResult };

/**
 * The delivery ledger: one queue per subscription, with the state of every message in it.
 *
 * A message of a subject is handed out only when every earlier message of that subject in the
 * same subscription is finished (acked or dead-lettered), so per-subject order holds across
 * redeliveries, nacks and ack timeouts; messages of different subjects go out in parallel.
 */

import type { Lease } from "../cluster/leases.js";

export type Phase = "prefill" | "live";

/** Identifies one lease of one message: it stops working once the message is handed out again. */
export interface AckId {
  phase: Phase;
  seq: number;
  deliveryCount: number;
}

export interface JournalEntry {
  seq: number;
  id: string;
  type: string;
  subject: string;
  sourceName: string;
  parentId: string | null;
  correlationId: string;
  time: string;
  /** The envelope as received, stored and served byte for byte. */
  json: string;
}

export interface LiveDelivery {
  subscriptionId: string;
  seq: number;
  subject: string;
}

/** One stream reader's batch within an append. */
export interface ReaderBatch {
  /** The stream reader whose position advances with this batch. */
  reader: string;
  position: number;
  /** The reader's lease: the batch is refused once another process holds it. */
  lease?: Lease;
  entries: JournalEntry[];
  deliveries: LiveDelivery[];
}

export interface AppendLiveInput {
  /** The subscriptions' revision the deliveries were routed with: nothing is written when it has moved since. */
  routedRevision: number;
  /** At most one batch per reader. */
  batches: ReaderBatch[];
}

export type AppendLiveOutcome =
  /** Subscriptions changed after the routing: route again with the new revision. */
  | { stale: true }
  /** New deliveries per subscription, and the readers whose lease had moved on (their batches wrote nothing). */
  | { stale: false; created: Map<string, number>; lostReaders: Set<string> };

/** What a lease needs to know of a subscription. */
export interface LeaseTarget {
  id: string;
  ackTimeoutSeconds: number;
  maxDeliveries: number;
  /** First live sequence to deliver; null while a prefill is still running (live messages wait). */
  liveFromSeq: number | null;
}

export interface LeasedMessage {
  ackId: AckId;
  sequence: number;
  deliveryCount: number;
  phase: Phase;
  /** The notification as JSON text, so it is served without a parse and re-serialisation. */
  notificationJson: string;
}

export interface LeaseResult {
  messages: LeasedMessage[];
  /** Messages whose last allowed delivery timed out: dead-lettered instead of handed out. */
  deadLettered: number;
  /** When none was available: when the next pending message comes out of its lease or delay, if one waits on a timer. */
  nextAvailableAt?: Date;
  /**
   * The lease spent its rounds clearing heads (dead-lettered or skipped ones) and handed out
   * none: messages may well be available behind them, so lease again at once rather than wait.
   */
  more?: boolean;
}

export interface NackItem {
  ackId: AckId;
  /** Seconds before the message is handed out again. */
  delaySeconds: number;
}

export type SettleStatus = "acked" | "nacked" | "dead_lettered" | "expired" | "not_found";

export interface SettleOutcome {
  ackId: AckId;
  status: SettleStatus;
}

export interface DeadLetter {
  phase: Phase;
  sequence: number;
  deliveryCount: number;
  reason: string;
  deadLetteredAt: Date;
  notificationJson: string;
}

export interface DeadLetterCursor {
  phase: Phase;
  sequence: number;
}

export interface LedgerStats {
  pending: number;
  acked: number;
  deadLettered: number;
  /** When the oldest live message still waiting or in flight was accepted; null when none is. */
  oldestPendingAt: Date | null;
}

export interface DeliveryLedger {
  /** Last stream sequence a reader has applied; 0 when it never ran. */
  position(reader: string): Promise<number>;
  /** Journals the readers' batches, creates their deliveries and moves their positions, in one transaction. */
  appendLive(input: AppendLiveInput): Promise<AppendLiveOutcome>;
  /**
   * The highest journaled sequence. Read after a subscription committed, it bounds every
   * notification appended without that subscription (see postgres/append.ts).
   */
  journaledThrough(): Promise<number>;
  lease(target: LeaseTarget, max: number): Promise<LeaseResult>;
  ack(subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]>;
  nack(target: LeaseTarget, items: NackItem[]): Promise<SettleOutcome[]>;
  reject(subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]>;
  /** Dead letters in stream order (prefill first), after the cursor. */
  deadLetters(subscriptionId: string, limit: number, after?: DeadLetterCursor): Promise<DeadLetter[]>;
  /** Returns dead letters to the queue (all, or those named), with a fresh delivery count. */
  redrive(subscriptionId: string, only?: Array<{ phase: Phase; sequence: number }>): Promise<number>;
  stats(target: LeaseTarget): Promise<LedgerStats>;
  /** Messages waiting or in flight, by subscription name (for the metrics gauge). */
  pendingBySubscription(): Promise<Map<string, number>>;
  /** Queues again every journaled notification from a sequence on that the filters match (see rewind.ts). */
  rewind(request: RewindRequest): Promise<RewindResult>;
  /** The first journal sequence accepted at or after a time, if any. */
  sequenceAt(time: Date): Promise<number | undefined>;
  queuePosition(subscriptionId: string, leaseSeconds: number, startSeq: number): Promise<QueuePosition>;
  /** Delivered totals, ack latency percentiles and attempts per message, by subscription id. */
  telemetry(windowSeconds: number, subscriptionId?: string): Promise<Map<string, DeliveryTelemetry>>;
  /** Makes every waiting message available now (a resume); returns how many were waiting. */
  releaseWaiting(subscriptionId: string): Promise<number>;
}

/** The subject of a prefill's `prefill.completed` row: no certificate has an empty id. */
export const PREFILL_MARKER_SUBJECT = "";

/** How each phase is stored: named here once, used by the adapter's SQL and the push attempt log. */
export const PHASE_CODE = { prefill: 0, live: 1 } as const satisfies Record<Phase, number>;
const PHASE_NAME = ["prefill", "live"] as const;

export const phaseCode = (phase: Phase): number => PHASE_CODE[phase];
export const phaseName = (code: number): Phase => PHASE_NAME[code] ?? "live";

const ACK_ID = /^([pl])(0|[1-9]\d{0,15})\.([1-9]\d{0,8})$/;

/** Ack ids look like `l1234.2`: live message 1234, second delivery. */
export function formatAckId(ackId: AckId): string {
  return `${ackId.phase === "prefill" ? "p" : "l"}${ackId.seq}.${ackId.deliveryCount}`;
}

export function parseAckId(text: string): AckId | undefined {
  const match = ACK_ID.exec(text);
  if (!match) return undefined;
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(seq)) return undefined;
  return { phase: match[1] === "p" ? "prefill" : "live", seq, deliveryCount: Number(match[3]) };
}
