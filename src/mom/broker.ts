import type { Notification } from "../core/notifications/envelope.js";

export interface PublishResult {
  id: string;
  sequence: number;
  duplicate: boolean;
}

export interface StreamMessage {
  seq: number;
  data: Uint8Array;
}

export interface ReadOptions {
  /** A name for logs and for the position the caller keeps. */
  name: string;
  /** Read one partition, or every partition when absent. */
  partition?: number;
  /** First stream sequence to deliver. */
  fromSeq: number;
  maxBatch: number;
  /**
   * Receives messages in stream order, in batches of what is available. A rejected promise
   * makes the reader retry the same batch (with back-off) until it succeeds or is stopped.
   */
  handle(batch: StreamMessage[]): Promise<void>;
}

export interface StreamReader {
  stop(): Promise<void>;
}

export interface StreamIdentity {
  name: string;
  /** When the stream was created: a recreated stream restarts its sequences. */
  created: string;
  firstSeq: number;
  lastSeq: number;
}

/** Where the notifications stream lives: its leader and how current each replica is. */
export interface StreamClusterState {
  stream: string;
  /** Replicas asked for (CERTFLOW_STREAM_REPLICAS) and replicas the stream has. */
  replicas: { wanted: number; configured: number };
  /** The NATS server this process is connected to. */
  connectedServer: string | null;
  cluster: string | null;
  leader: string | null;
  peers: Array<{ name: string; current: boolean; offline: boolean; lag: number }>;
}

/** The message broker, by capability: an ordered, deduplicating log of notifications and wake-up signals. */
export interface Broker {
  readonly partitions: number;
  publish(notification: Notification): Promise<PublishResult>;
  /** Publishes pipelined; one result or error per notification, in order. */
  publishMany(notifications: readonly Notification[]): Promise<Array<PublishResult | Error>>;
  stream(): Promise<StreamIdentity>;
  read(options: ReadOptions): StreamReader;
  /** Fire-and-forget hint that a subscription has new messages; correctness never depends on it arriving. */
  wake(subscriptionId: string): void;
  onWake(handler: (subscriptionId: string) => void): () => void;
  /** Fire-and-forget hint that a prefill is waiting; prefill workers also look on a timer. */
  requestPrefill(): void;
  onPrefillRequested(handler: () => void): () => void;
  /** Fire-and-forget hint that registry commands were accepted; the connector also looks on a timer. */
  requestCommandSend(): void;
  onCommandSendRequested(handler: () => void): () => void;
  ping(): Promise<void>;
  /** The notifications stream's leader and replicas; throws when it has no leader (no quorum). */
  clusterState(): Promise<StreamClusterState>;
  close(): Promise<void>;
}
