import { sql, type Kysely } from "kysely";

/** Producers, subscriptions, the notification journal and the per-subscription delivery ledger. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE producers (
      id uuid PRIMARY KEY,
      name text NOT NULL UNIQUE,
      description text,
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE subscriptions (
      id uuid PRIMARY KEY,
      name text NOT NULL UNIQUE,
      description text,
      filters jsonb NOT NULL,
      delivery jsonb NOT NULL,
      request_fingerprint text NOT NULL,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
      status_reason text,
      ack_timeout_seconds integer NOT NULL,
      max_deliveries integer NOT NULL,
      start_seq bigint NOT NULL,
      prefill_enabled boolean NOT NULL,
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  // One row whose revision moves with every subscription change, in the same transaction:
  // the dispatcher compares it before each batch and reloads the whole set in one snapshot.
  await sql`
    CREATE TABLE subscription_changes (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      revision bigint NOT NULL
    )`.execute(db);
  await sql`INSERT INTO subscription_changes (singleton, revision) VALUES (true, 0)`.execute(db);

  // Acknowledgement counts, spread over a few rows per subscription so that concurrent acks
  // do not all wait for one row's lock; a subscription's count is their sum.
  await sql`
    CREATE TABLE subscription_stats (
      subscription_id uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      shard smallint NOT NULL,
      acked bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (subscription_id, shard)
    )`.execute(db);

  await sql`
    CREATE TABLE notifications (
      seq bigint PRIMARY KEY,
      id uuid NOT NULL UNIQUE,
      type text NOT NULL,
      subject text NOT NULL,
      source_name text NOT NULL,
      parent_id uuid,
      correlation_id uuid NOT NULL,
      time timestamptz NOT NULL,
      accepted_at timestamptz NOT NULL DEFAULT now(),
      envelope json NOT NULL
    )`.execute(db);

  // Stream readers keep their position here, in the same transaction as their effects.
  await sql`
    CREATE TABLE consumer_positions (
      name text PRIMARY KEY,
      seq bigint NOT NULL
    )`.execute(db);

  // The stream these positions belong to: a recreated stream restarts its sequences.
  await sql`
    CREATE TABLE stream_epochs (
      stream text PRIMARY KEY,
      created text NOT NULL
    )`.execute(db);

  // Keyed (phase, seq, subscription): rows append in stream order, and a notification's
  // delivery states across subscriptions sit together. Exactly one pending row per
  // (subscription, subject) is the head: the only one that may be handed out.
  await sql`
    CREATE TABLE deliveries (
      subscription_id uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      phase smallint NOT NULL,
      seq bigint NOT NULL,
      subject text NOT NULL,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acked', 'dead', 'skipped')),
      is_head boolean NOT NULL DEFAULT false,
      delivery_count integer NOT NULL DEFAULT 0,
      available_at timestamptz NOT NULL DEFAULT now(),
      last_delivered_at timestamptz,
      finished_at timestamptz,
      dead_reason text,
      payload jsonb,
      PRIMARY KEY (phase, seq, subscription_id)
    )`.execute(db);
  await sql`CREATE INDEX deliveries_heads ON deliveries (subscription_id, phase, seq) WHERE state = 'pending' AND is_head`.execute(db);
  // Finding a subject's next head: live rows only (prefill rows are each their own head).
  await sql`CREATE INDEX deliveries_pending_by_subject ON deliveries (subscription_id, subject, seq) WHERE state = 'pending' AND phase = 1`.execute(db);
  await sql`CREATE INDEX deliveries_dead ON deliveries (subscription_id, phase, seq) WHERE state = 'dead'`.execute(db);

  // Pending messages per (subscription, subject). Its row lock serialises whoever adds to a
  // subject's queue with whoever finishes its head, so the next head is always found.
  await sql`
    CREATE TABLE delivery_groups (
      subscription_id uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      subject text NOT NULL,
      pending integer NOT NULL CHECK (pending >= 0),
      PRIMARY KEY (subscription_id, subject)
    )`.execute(db);
}
