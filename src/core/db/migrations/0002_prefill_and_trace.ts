import { sql, type Kysely } from "kysely";

/** The certificate read model, prefill progress and completion, and the journal's trace indexes. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE certificate_states (
      certificate_id text PRIMARY KEY,
      kind text NOT NULL,
      device_id text NOT NULL,
      grid_area text NOT NULL,
      energy_source text NOT NULL,
      owner text NOT NULL,
      status text NOT NULL,
      parent_certificate_id text,
      period_start timestamptz NOT NULL,
      period_end timestamptz NOT NULL,
      quantity_wh bigint NOT NULL,
      version integer NOT NULL,
      last_seq bigint NOT NULL,
      state jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE prefills (
      subscription_id uuid PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
      status text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
      total bigint NOT NULL DEFAULT 0,
      sent bigint NOT NULL DEFAULT 0,
      error text,
      owner text,
      heartbeat_at timestamptz,
      started_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX prefills_waiting ON prefills (updated_at) WHERE status IN ('pending', 'running')`.execute(db);

  await sql`
    CREATE TABLE prefill_snapshots (
      subscription_id uuid PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
      position bigint NOT NULL,
      total bigint NOT NULL,
      source_version text NOT NULL,
      completed_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`CREATE INDEX notifications_by_subject ON notifications (subject, seq)`.execute(db);
  await sql`CREATE INDEX notifications_by_parent ON notifications (parent_id) WHERE parent_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX notifications_by_correlation ON notifications (correlation_id)`.execute(db);
}
