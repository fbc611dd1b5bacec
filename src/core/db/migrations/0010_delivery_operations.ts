import { sql, type Kysely } from "kysely";

/**
 * Operational notifications (an outbox, so each is published once even across crashes), lag
 * SLOs and their breach state, rewinds (a delivery's attempt budget restarts at a replay), a
 * count of handed-out messages, and W3C trace context kept with each journaled notification.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE operational_outbox (
      seq bigserial PRIMARY KEY,
      id uuid NOT NULL UNIQUE,
      envelope json NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      published_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX operational_outbox_unpublished ON operational_outbox (seq) WHERE published_at IS NULL`.execute(db);

  await sql`ALTER TABLE subscriptions ADD COLUMN slo_max_lag_seconds integer`.execute(db);
  // One row per subscription with an SLO: whether it is in breach now, and since when.
  await sql`
    CREATE TABLE subscription_lag (
      subscription_id uuid PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
      lagging_since timestamptz,
      breaches integer NOT NULL DEFAULT 0
    )`.execute(db);

  // Deliveries before the last rewind: the attempt budget counts from here, while ack ids keep
  // counting up, so an ack id from before a rewind can never settle a delivery made after it.
  await sql`ALTER TABLE deliveries ADD COLUMN replay_base integer NOT NULL DEFAULT 0`.execute(db);
  await sql`ALTER TABLE subscription_stats ADD COLUMN delivered bigint NOT NULL DEFAULT 0`.execute(db);
  // Recent acknowledgements, for accept-to-ack latency percentiles.
  await sql`CREATE INDEX deliveries_recently_finished ON deliveries (subscription_id, finished_at) WHERE state = 'acked'`.execute(db);
}
