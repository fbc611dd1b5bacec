import { sql, type Kysely } from "kysely";

/**
 * The producer's certificate registry (its write model, apart from the `certificate_states`
 * read model): certificates, conversions of annual certificates into hourly ones, trades, and
 * an outbox of notifications committed with the changes they describe.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE registry_certificates (
      certificate_id text PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('annual', 'hourly')),
      device_id text NOT NULL,
      grid_area text NOT NULL,
      energy_source text NOT NULL,
      period_start timestamptz NOT NULL,
      period_end timestamptz NOT NULL CHECK (period_end > period_start),
      quantity_wh bigint NOT NULL CHECK (quantity_wh >= 0),
      owner text NOT NULL,
      initial_owner text NOT NULL,
      status text NOT NULL CHECK (status IN ('active', 'cancelled', 'transferred', 'claimed', 'withdrawn', 'expired')),
      parent_certificate_id text REFERENCES registry_certificates (certificate_id),
      hour_index integer CHECK (hour_index >= 0),
      version integer NOT NULL CHECK (version >= 1),
      conversion_id uuid,
      converted_at timestamptz,
      registered_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((kind = 'hourly') = (parent_certificate_id IS NOT NULL)),
      CHECK ((kind = 'hourly') = (hour_index IS NOT NULL)),
      UNIQUE (parent_certificate_id, hour_index)
    )`.execute(db);
  await sql`CREATE INDEX registry_certificates_by_owner ON registry_certificates (owner, certificate_id)`.execute(db);

  await sql`
    CREATE TABLE conversions (
      id uuid PRIMARY KEY,
      annual_certificate_id text NOT NULL REFERENCES registry_certificates (certificate_id),
      status text NOT NULL CHECK (status IN ('queued', 'running', 'persisted', 'done', 'failed')),
      profile_kind text NOT NULL CHECK (profile_kind IN ('uniform', 'hourly', 'csv')),
      profile_unit text,
      profile_wh json,
      hours integer NOT NULL,
      quantity_wh bigint NOT NULL,
      hours_persisted integer NOT NULL DEFAULT 0,
      hours_published integer NOT NULL DEFAULT 0,
      attempts integer NOT NULL DEFAULT 0,
      error text,
      validation jsonb,
      requested_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      persisted_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  // An annual certificate converts once: at most one conversion that has not failed.
  await sql`CREATE UNIQUE INDEX conversions_once ON conversions (annual_certificate_id) WHERE status <> 'failed'`.execute(db);
  await sql`CREATE INDEX conversions_unfinished ON conversions (created_at) WHERE status IN ('queued', 'running', 'persisted')`.execute(db);

  await sql`
    CREATE TABLE trades (
      id uuid PRIMARY KEY,
      seller text NOT NULL,
      buyer text NOT NULL,
      price_per_mwh double precision CHECK (price_per_mwh >= 0),
      certificate_count integer NOT NULL,
      quantity_wh bigint NOT NULL,
      requested_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX trades_by_seller ON trades (seller, id)`.execute(db);
  await sql`CREATE INDEX trades_by_buyer ON trades (buyer, id)`.execute(db);

  await sql`
    CREATE TABLE trade_certificates (
      trade_id uuid NOT NULL REFERENCES trades (id),
      certificate_id text NOT NULL REFERENCES registry_certificates (certificate_id),
      quantity_wh bigint NOT NULL,
      previous_owner text NOT NULL,
      version integer NOT NULL,
      PRIMARY KEY (trade_id, certificate_id)
    )`.execute(db);
  await sql`CREATE INDEX trade_certificates_by_certificate ON trade_certificates (certificate_id, version)`.execute(db);

  // Notifications committed with their change and published after the commit; a row is
  // deleted once the broker has stored it, so what remains after a crash is published at start-up.
  await sql`
    CREATE TABLE registry_outbox (
      seq bigserial PRIMARY KEY,
      id uuid NOT NULL UNIQUE,
      subject text NOT NULL,
      envelope json NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}
