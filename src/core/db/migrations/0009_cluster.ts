import { sql, type Kysely } from "kysely";

/**
 * Work shared between processes: a registry of live processes, leases with a fencing epoch and
 * their history, and what retention has removed. Indexes let retention find old rows in small
 * batches without a scan.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE cluster_processes (
      id text PRIMARY KEY,
      services text[] NOT NULL,
      host text NOT NULL,
      pid integer NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  // One row per unit of work (a partition, the projection, a push subscription, a sweep). The
  // epoch rises with every new owner; a write guarded by a lease names the epoch it holds.
  await sql`
    CREATE TABLE work_leases (
      name text PRIMARY KEY,
      grp text NOT NULL,
      owner text,
      epoch bigint NOT NULL DEFAULT 0,
      acquired_at timestamptz,
      expires_at timestamptz
    )`.execute(db);

  await sql`
    CREATE TABLE lease_history (
      name text NOT NULL,
      epoch bigint NOT NULL,
      owner text NOT NULL,
      acquired_at timestamptz NOT NULL,
      ended_at timestamptz,
      end_reason text,
      PRIMARY KEY (name, epoch)
    )`.execute(db);
  await sql`CREATE INDEX lease_history_ended ON lease_history (ended_at) WHERE ended_at IS NOT NULL`.execute(db);

  // Per kind of record, the newest time before which retention has removed rows.
  await sql`
    CREATE TABLE retention_horizons (
      kind text PRIMARY KEY,
      removed_before timestamptz NOT NULL,
      removed_rows bigint NOT NULL DEFAULT 0
    )`.execute(db);

  await sql`CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE state <> 'pending'`.execute(db);
  await sql`CREATE INDEX notifications_accepted ON notifications (accepted_at)`.execute(db);
  await sql`CREATE INDEX delivery_attempts_started ON delivery_attempts (started_at)`.execute(db);
}
