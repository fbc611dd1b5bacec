/** The notification journal: every accepted notification, as the dispatcher recorded it. */
export interface JournalRecord {
  id: string;
  seq: number;
  correlationId: string;
}

export interface JournalEntry {
  seq: number;
  sourceName: string;
  acceptedAt: Date;
  /** The envelope as JSON text, served as stored. */
  json: string;
}

export type DeliveryStatus = "pending" | "delivered" | "acked" | "dead_lettered" | "skipped";

export interface DeliveryState {
  subscription: string;
  phase: "live";
  status: DeliveryStatus;
  deliveryCount: number;
  lastDeliveredAt: Date | null;
  finishedAt: Date | null;
  deadLetterReason: string | null;
}

export interface TraceNode {
  id: string;
  parentId: string | null;
  json: string;
}

export interface Trace {
  /** Root first, the notification's parent last. */
  ancestors: TraceNode[];
  /** Every notification caused, directly or not, by this one. */
  descendants: TraceNode[];
}

export interface NotificationJournal {
  /** Before when retention may have removed journal rows, or the deliveries of finished messages; null when it never did. */
  removedBefore(kind: "journal" | "deliveries"): Promise<Date | null>;
  /** The journaled notifications among these ids. */
  findMany(ids: readonly string[]): Promise<Map<string, JournalRecord>>;
  find(id: string): Promise<JournalEntry | undefined>;
  deliveryStates(seq: number): Promise<DeliveryState[]>;
  trace(id: string, maxNodes: number): Promise<Trace>;
  /** Notifications about one subject, in stream order, after a sequence. */
  /** The certificate notifications of one subject, in order (registry command events are not changes: left out). */
  history(subject: string, limit: number, afterSeq: number): Promise<JournalEntry[]>;
}
