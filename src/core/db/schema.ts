import type { ColumnType, Generated, Kysely } from "kysely";

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface ProducersTable {
  id: string;
  name: string;
  description: string | null;
  token_hash: string;
  created_at: CreatedAt;
}

export type SubscriptionStatus = "active" | "paused" | "disabled";
export type PrefillStatus = "pending" | "running" | "done" | "failed";

export interface SubscriptionsTable {
  id: string;
  name: string;
  description: string | null;
  filters: ColumnType<unknown, string, string>;
  delivery: ColumnType<unknown, string, string>;
  /** Hash of the normalised create request: the same request again is answered 200, another one 409. */
  request_fingerprint: string;
  status: SubscriptionStatus;
  status_reason: string | null;
  ack_timeout_seconds: number;
  max_deliveries: number;
  /** First notification stream sequence this subscription receives live. */
  start_seq: number;
  prefill_enabled: boolean;
  prefill_status: PrefillStatus;
  prefill_total: Generated<number>;
  prefill_sent: Generated<number>;
  /** The read-model position P its snapshot was taken at; live messages at or before P are skipped. */
  prefill_position: number | null;
  prefill_error: string | null;
  token_hash: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface SubscriptionChangesTable {
  singleton: boolean;
  revision: number;
}

export interface SubscriptionStatsTable {
  subscription_id: string;
  acked: Generated<number>;
}

export interface NotificationsTable {
  seq: number;
  id: string;
  type: string;
  subject: string;
  source_name: string;
  parent_id: string | null;
  correlation_id: string;
  time: Timestamp;
  accepted_at: CreatedAt;
  envelope: ColumnType<unknown, string, never>;
}

export type DeliveryState = "pending" | "acked" | "dead" | "skipped";

export interface DeliveriesTable {
  subscription_id: string;
  phase: number;
  seq: number;
  subject: string;
  state: Generated<DeliveryState>;
  is_head: Generated<boolean>;
  delivery_count: Generated<number>;
  available_at: Generated<Date>;
  last_delivered_at: Date | null;
  finished_at: Date | null;
  dead_reason: string | null;
  /** Prefill snapshots carry their envelope here; live rows read theirs from the journal. */
  payload: ColumnType<unknown, string | null, never> | null;
}

export interface ConsumerPositionsTable {
  name: string;
  seq: number;
}

export interface StreamEpochsTable {
  stream: string;
  created: string;
}

export interface DeliveryGroupsTable {
  subscription_id: string;
  subject: string;
  pending: number;
}

export interface Database {
  delivery_groups: DeliveryGroupsTable;
  consumer_positions: ConsumerPositionsTable;
  stream_epochs: StreamEpochsTable;
  producers: ProducersTable;
  subscriptions: SubscriptionsTable;
  subscription_changes: SubscriptionChangesTable;
  subscription_stats: SubscriptionStatsTable;
  notifications: NotificationsTable;
  deliveries: DeliveriesTable;
}

/** A database handle or an open transaction: repositories take either. */
export type Executor = Kysely<Database>;
