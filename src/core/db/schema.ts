import type { ColumnType, Generated, Kysely } from "kysely";

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

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
  token_hash: string;
  /** Since when every push attempt has failed; cleared by a success. */
  failing_since: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** The subscription's SLO: its oldest waiting message should be no older than this. */
  slo_max_lag_seconds: ColumnType<number | null, number | null | undefined, number | null>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface SubscriptionChangesTable {
  singleton: boolean;
  revision: number;
}

export interface SubscriptionStatsTable {
  subscription_id: string;
  shard: number;
  acked: Generated<number>;
  /** Live messages queued (dispatcher, redrive) and finished (acked, dead-lettered, skipped): pending is the difference. */
  queued: Generated<number>;
  settled: Generated<number>;
  delivered: Generated<number>;
  /** Dead letters (any phase) and pending prefill messages, as deltas: a subscription's count is the sum. */
  dead: Generated<number>;
  prefill_pending: Generated<number>;
  /** The newest live sequence queued through this shard; a subscription's is the maximum. */
  last_queued_seq: number | null;
}

/** Operational notifications waiting to be published (and those published, until swept). */
export interface OperationalOutboxTable {
  seq: Generated<number>;
  id: string;
  envelope: ColumnType<unknown, string, never>;
  created_at: CreatedAt;
  published_at: Date | null;
}

export interface SubscriptionLagTable {
  subscription_id: string;
  lagging_since: Date | null;
  breaches: Generated<number>;
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
  /** On a live head: something may be queued behind it (finishing it then looks for the next head). */
  has_queued: Generated<boolean>;
  delivery_count: Generated<number>;
  available_at: Generated<Date>;
  last_delivered_at: Date | null;
  finished_at: Date | null;
  dead_reason: string | null;
  /** Deliveries made before the last rewind; the attempt budget counts from here. */
  replay_base: Generated<number>;
  /** Prefill rows carry the certificate's state here (their envelope is made when read); live rows read theirs from the journal. */
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

/** A certificate's current state: the read model, projected from every notification. */
export interface CertificateStatesTable {
  certificate_id: string;
  kind: string;
  device_id: string;
  grid_area: string;
  energy_source: string;
  owner: string;
  status: string;
  parent_certificate_id: string | null;
  period_start: Date;
  period_end: Date;
  quantity_wh: number;
  version: number;
  /** Stream sequence of the notification that produced this state. */
  last_seq: number;
  state: ColumnType<unknown, string, string>;
  updated_at: Timestamp;
}

/** Progress of a subscription's prefill; changed often, by the worker, outside the snapshot's transaction. */
export interface PrefillsTable {
  subscription_id: string;
  status: PrefillStatus;
  total: Generated<number>;
  sent: Generated<number>;
  error: string | null;
  owner: string | null;
  heartbeat_at: Date | null;
  started_at: Date | null;
  updated_at: UpdatedAt;
}

/** A completed prefill, written in the snapshot's own transaction: its existence is what "done" means. */
export interface PrefillSnapshotsTable {
  subscription_id: string;
  /** The read-model position P the snapshot was taken at. */
  position: number;
  total: number;
  /** certflow's version when the snapshot was taken: the `source.version` of its messages. */
  source_version: string;
  completed_at: CreatedAt;
}

/** Webhook signing secrets; during a rotation the old one signs too, until it expires. */
export interface PushSecretsTable {
  id: Generated<number>;
  subscription_id: string;
  secret: string;
  created_at: CreatedAt;
  expires_at: Date | null;
}

export interface DeliveryAttemptsTable {
  id: Generated<number>;
  subscription_id: string;
  phase: number;
  seq: number;
  attempt: number;
  webhook_id: string;
  url: string;
  started_at: Date;
  outcome: "succeeded" | "failed";
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}

export interface Database {
  push_secrets: PushSecretsTable;
  delivery_attempts: DeliveryAttemptsTable;
  certificate_states: CertificateStatesTable;
  prefills: PrefillsTable;
  prefill_snapshots: PrefillSnapshotsTable;
  consumer_positions: ConsumerPositionsTable;
  stream_epochs: StreamEpochsTable;
  producers: ProducersTable;
  subscriptions: SubscriptionsTable;
  subscription_changes: SubscriptionChangesTable;
  subscription_stats: SubscriptionStatsTable;
  operational_outbox: OperationalOutboxTable;
  subscription_lag: SubscriptionLagTable;
  notifications: NotificationsTable;
  deliveries: DeliveriesTable;
  registry_certificates: RegistryCertificatesTable;
  conversions: ConversionsTable;
  trades: TradesTable;
  trade_certificates: TradeCertificatesTable;
  registry_outbox: RegistryOutboxTable;
  cluster_processes: ClusterProcessesTable;
  work_leases: WorkLeasesTable;
  lease_history: LeaseHistoryTable;
  retention_horizons: RetentionHorizonsTable;
  registry_commands: RegistryCommandsTable;
  registry_misalignments: RegistryMisalignmentsTable;
}

/** A database handle or an open transaction: repositories take either. */
export type Executor = Kysely<Database>;

/** The producer's certificate registry: its write model (the read model is `certificate_states`). */
export interface RegistryCertificatesTable {
  certificate_id: string;
  kind: "annual" | "hourly";
  device_id: string;
  grid_area: string;
  energy_source: string;
  period_start: Timestamp;
  period_end: Timestamp;
  quantity_wh: number;
  owner: string;
  initial_owner: string;
  status: string;
  parent_certificate_id: string | null;
  /** Hour of the year (0-based) of an hourly certificate. */
  hour_index: number | null;
  version: number;
  /** Annual: the conversion that converted it; hourly: the conversion that issued it. */
  conversion_id: string | null;
  /** Annual: when its conversion finished, so its hourly certificates may change from then on. */
  converted_at: ColumnType<Date | null, Date | string | null, Date | string | null>;
  registered_by: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  /** A slice part: the certificate it was cut from. */
  sliced_from: ColumnType<string | null, string | null | undefined, string | null>;
}

export type ConversionStatus = "queued" | "running" | "persisted" | "done" | "failed";

export interface ConversionsTable {
  id: string;
  annual_certificate_id: string;
  status: ConversionStatus;
  profile_kind: "uniform" | "hourly" | "csv";
  profile_unit: string | null;
  /** One value (Wh) per hour, as JSON text; null for a uniform profile. */
  profile_wh: ColumnType<unknown, string | null, never>;
  hours: number;
  quantity_wh: number;
  hours_persisted: Generated<number>;
  hours_published: Generated<number>;
  attempts: Generated<number>;
  error: string | null;
  validation: ColumnType<unknown, string | null, string | null>;
  requested_by: string;
  created_at: CreatedAt;
  started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  persisted_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  updated_at: UpdatedAt;
}

export interface TradesTable {
  id: string;
  seller: string;
  buyer: string;
  price_per_mwh: number | null;
  certificate_count: number;
  quantity_wh: number;
  requested_by: string;
  created_at: CreatedAt;
  state: ColumnType<TradeState, TradeState | undefined, TradeState>;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export type TradeState = "pending" | "completed" | "compensating" | "failed";

export interface TradeCertificatesTable {
  trade_id: string;
  certificate_id: string;
  quantity_wh: number;
  previous_owner: string;
  /** The certificate's version after the transfer. */
  version: number;
}

export interface RegistryOutboxTable {
  seq: Generated<number>;
  id: string;
  subject: string;
  envelope: ColumnType<unknown, string, never>;
  created_at: CreatedAt;
}

/** Processes that run background work, with their last heartbeat. */
export interface ClusterProcessesTable {
  id: string;
  services: string[];
  host: string;
  pid: number;
  started_at: CreatedAt;
  heartbeat_at: Timestamp;
}

/** One unit of background work and who holds it; `epoch` rises with every new owner. */
export interface WorkLeasesTable {
  name: string;
  grp: string;
  owner: string | null;
  epoch: Generated<number>;
  acquired_at: Date | null;
  expires_at: Date | null;
}

/** Every owner a lease had, one row per epoch. */
export interface LeaseHistoryTable {
  name: string;
  epoch: number;
  owner: string;
  acquired_at: Date;
  ended_at: Date | null;
  end_reason: "released" | "expired" | null;
}

export interface RetentionHorizonsTable {
  kind: string;
  removed_before: Date;
  removed_rows: Generated<number>;
}

export type CommandState = "queued" | "sending" | "sent" | "committed" | "failed" | "indeterminate";
export type CommandType = "issue" | "cancel" | "slice" | "transfer" | "claim" | "withdraw";
type MaybeTime = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface RegistryCommandsTable {
  seq: Generated<number>;
  id: string;
  certificate_id: string;
  type: CommandType;
  state: CommandState;
  /** base64 canonical transaction, built once at acceptance and never rebuilt. */
  bytes: string;
  tx_id: string;
  /** What the book applies once the registry committed the command. */
  intent: ColumnType<Record<string, unknown>, string, string>;
  statuses: ColumnType<Array<{ status: string; at: string }>, string | undefined, string>;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  send_attempts: Generated<number>;
  send_outcome: ColumnType<string | null, string | null | undefined, string | null>;
  polls: Generated<number>;
  pending_seen: Generated<boolean>;
  parent_id: string | null;
  correlation_id: string;
  saga_id: string | null;
  saga_role: "forward" | "compensation" | null;
  requested_by: string;
  accepted_at: CreatedAt;
  sent_at: MaybeTime;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  deadline_at: MaybeTime;
  finished_at: MaybeTime;
}

export interface RegistryMisalignmentsTable {
  id: string;
  certificate_id: string;
  local: ColumnType<unknown, string, never>;
  registry: ColumnType<unknown, string, never>;
  detected_by: string;
  detected_at: CreatedAt;
}
