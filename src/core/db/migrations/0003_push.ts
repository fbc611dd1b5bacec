import { sql, type Kysely } from "kysely";

/** Push delivery: signing secrets (several during a rotation), the attempt log, and failure tracking. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE subscriptions ADD COLUMN failing_since timestamptz`.execute(db);

  await sql`
    CREATE TABLE push_secrets (
      id bigserial PRIMARY KEY,
      subscription_id uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      secret text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX push_secrets_by_subscription ON push_secrets (subscription_id, id)`.execute(db);

  await sql`
    CREATE TABLE delivery_attempts (
      id bigserial PRIMARY KEY,
      subscription_id uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      phase smallint NOT NULL,
      seq bigint NOT NULL,
      attempt integer NOT NULL,
      webhook_id text NOT NULL,
      url text NOT NULL,
      started_at timestamptz NOT NULL,
      outcome text NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
      status_code integer,
      latency_ms integer NOT NULL,
      error text
    )`.execute(db);
  await sql`CREATE INDEX delivery_attempts_by_subscription ON delivery_attempts (subscription_id, id)`.execute(db);
}
