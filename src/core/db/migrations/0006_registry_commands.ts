import { sql, type Kysely } from "kysely";

/**
 * The registry connector's command log (DESIGN.md §8): every command to the external registry,
 * with its transaction bytes and id built once at acceptance, its state and every status seen.
 * At most one command per certificate is in flight (sending, sent or indeterminate): a partial
 * unique index, so no code path can send two at once. Slice parts, trade saga states and
 * detected misalignments are recorded beside it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE registry_commands (
      seq bigserial UNIQUE,
      id uuid PRIMARY KEY,
      certificate_id text NOT NULL,
      type text NOT NULL CHECK (type IN ('issue', 'cancel', 'slice', 'transfer', 'claim', 'withdraw')),
      state text NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'committed', 'failed', 'indeterminate')),
      bytes text NOT NULL,
      tx_id text NOT NULL UNIQUE,
      intent jsonb NOT NULL,
      statuses jsonb NOT NULL DEFAULT '[]',
      error text,
      send_attempts integer NOT NULL DEFAULT 0,
      send_outcome text,
      polls integer NOT NULL DEFAULT 0,
      pending_seen boolean NOT NULL DEFAULT false,
      parent_id uuid,
      correlation_id uuid NOT NULL,
      saga_id uuid,
      saga_role text CHECK (saga_role IN ('forward', 'compensation')),
      requested_by text NOT NULL,
      accepted_at timestamptz NOT NULL DEFAULT now(),
      sent_at timestamptz,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      deadline_at timestamptz,
      finished_at timestamptz
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX registry_commands_one_in_flight ON registry_commands (certificate_id) WHERE state IN ('sending', 'sent', 'indeterminate')`.execute(db);
  await sql`CREATE INDEX registry_commands_queued ON registry_commands (seq) WHERE state = 'queued'`.execute(db);
  await sql`CREATE INDEX registry_commands_due ON registry_commands (next_attempt_at) WHERE state = 'sent'`.execute(db);
  await sql`CREATE INDEX registry_commands_by_certificate ON registry_commands (certificate_id, seq)`.execute(db);
  await sql`CREATE INDEX registry_commands_by_state ON registry_commands (state, seq)`.execute(db);
  await sql`CREATE INDEX registry_commands_by_saga ON registry_commands (saga_id) WHERE saga_id IS NOT NULL`.execute(db);

  // Slice parts copy their source's hour: only hours issued by a conversion are unique per parent.
  await sql`ALTER TABLE registry_certificates ADD COLUMN sliced_from text REFERENCES registry_certificates (certificate_id)`.execute(db);
  await sql`ALTER TABLE registry_certificates DROP CONSTRAINT registry_certificates_parent_certificate_id_hour_index_key`.execute(db);
  await sql`CREATE UNIQUE INDEX registry_certificates_one_per_hour ON registry_certificates (parent_certificate_id, hour_index) WHERE sliced_from IS NULL`.execute(db);

  // Trades become sagas over transfer commands; trades made before are complete.
  await sql`ALTER TABLE trades ADD COLUMN state text NOT NULL DEFAULT 'completed' CHECK (state IN ('pending', 'completed', 'compensating', 'failed'))`.execute(db);
  await sql`ALTER TABLE trades ADD COLUMN error text`.execute(db);
  await sql`ALTER TABLE trades ADD COLUMN finished_at timestamptz`.execute(db);

  await sql`
    CREATE TABLE registry_misalignments (
      id uuid PRIMARY KEY,
      certificate_id text NOT NULL,
      local jsonb NOT NULL,
      registry jsonb NOT NULL,
      detected_by text NOT NULL,
      detected_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}
