import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import type { Lease, LeaseRecord, ProcessIdentity, ProcessRecord, WorkLeases } from "./leases.js";

/**
 * Leases in PostgreSQL rather than NATS KV: the positions and ledger rows a lease guards live
 * in PostgreSQL, so the lease is checked in the same statement as the write (`leaseFence`),
 * which a KV revision elsewhere could not give. Times are the database's clock only.
 */
export class PostgresWorkLeases implements WorkLeases {
  constructor(private readonly db: Executor) {}

  async heartbeat(process: ProcessIdentity): Promise<void> {
    await this.db
      .insertInto("cluster_processes")
      .values({ id: process.id, services: [...process.services], host: process.host, pid: process.pid, heartbeat_at: sql<Date>`now()` })
      .onConflict((conflict) => conflict.column("id").doUpdateSet({ heartbeat_at: sql<Date>`now()` }))
      .execute();
  }

  async leave(processId: string): Promise<void> {
    await this.db.deleteFrom("cluster_processes").where("id", "=", processId).execute();
  }

  async liveProcesses(service: string, ttlSeconds: number): Promise<string[]> {
    const result = await sql<{ id: string }>`
      SELECT id FROM cluster_processes
      WHERE ${service} = ANY(services) AND heartbeat_at > now() - make_interval(secs => ${ttlSeconds})
      ORDER BY started_at, id
    `.execute(this.db);
    return result.rows.map((row) => row.id);
  }

  async ensure(group: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await sql`
      INSERT INTO work_leases (name, grp) SELECT unnest(${[...names]}::text[]), ${group}
      ON CONFLICT (name) DO NOTHING
    `.execute(this.db);
  }

  async free(group: string): Promise<string[]> {
    const result = await sql<{ name: string }>`
      SELECT name FROM work_leases WHERE grp = ${group} AND (owner IS NULL OR expires_at < now()) ORDER BY name
    `.execute(this.db);
    return result.rows.map((row) => row.name);
  }

  /**
   * SKIP LOCKED: a lease row is share-locked while a write it guards is in flight, so a takeover
   * waits for no one and never lands between a stale owner's check and its commit.
   */
  async acquire(name: string, owner: string, ttlSeconds: number): Promise<Lease | undefined> {
    const result = await sql<{ epoch: number }>`
      WITH previous AS (
        SELECT name, owner, epoch, expires_at FROM work_leases
        WHERE name = ${name} AND (owner IS NULL OR expires_at < now())
        FOR UPDATE SKIP LOCKED
      ), taken AS (
        UPDATE work_leases l SET owner = ${owner}, epoch = l.epoch + 1, acquired_at = now(),
          expires_at = now() + make_interval(secs => ${ttlSeconds})
        FROM previous p WHERE l.name = p.name
        RETURNING l.name, l.epoch, l.acquired_at
      ), expired AS (
        UPDATE lease_history h SET ended_at = p.expires_at, end_reason = 'expired'
        FROM previous p WHERE h.name = p.name AND h.epoch = p.epoch AND h.ended_at IS NULL
      ), recorded AS (
        INSERT INTO lease_history (name, epoch, owner, acquired_at) SELECT name, epoch, ${owner}, acquired_at FROM taken
      )
      SELECT epoch FROM taken
    `.execute(this.db);
    const row = result.rows[0];
    return row && { name, owner, epoch: row.epoch };
  }

  /** Locks the rows in name order, as a guarded write that holds several leases share-locks them, so the two never deadlock. */
  async renew(owner: string, leases: readonly Lease[], ttlSeconds: number): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    const result = await sql<{ name: string }>`
      WITH mine AS (
        SELECT l.name FROM work_leases l
        JOIN unnest(${leases.map((lease) => lease.name)}::text[], ${leases.map((lease) => lease.epoch)}::bigint[]) AS h(name, epoch)
          ON l.name = h.name AND l.epoch = h.epoch
        WHERE l.owner = ${owner}
        ORDER BY l.name
        FOR UPDATE OF l
      )
      UPDATE work_leases l SET expires_at = now() + make_interval(secs => ${ttlSeconds})
      FROM mine WHERE l.name = mine.name
      RETURNING l.name
    `.execute(this.db);
    return new Set(result.rows.map((row) => row.name));
  }

  async release(lease: Lease): Promise<void> {
    await sql`
      WITH released AS (
        UPDATE work_leases SET owner = NULL, expires_at = NULL
        WHERE name = ${lease.name} AND epoch = ${lease.epoch} AND owner = ${lease.owner}
        RETURNING name, epoch
      )
      UPDATE lease_history h SET ended_at = now(), end_reason = 'released'
      FROM released r WHERE h.name = r.name AND h.epoch = r.epoch AND h.ended_at IS NULL
    `.execute(this.db);
  }

  async processes(): Promise<ProcessRecord[]> {
    const rows = await this.db.selectFrom("cluster_processes").selectAll().orderBy("started_at").orderBy("id").execute();
    return rows.map((row) => ({
      id: row.id,
      services: row.services,
      host: row.host,
      pid: row.pid,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
    }));
  }

  async leases(): Promise<LeaseRecord[]> {
    const rows = await this.db.selectFrom("work_leases").selectAll().orderBy("grp").orderBy("name").execute();
    return rows.map((row) => ({
      name: row.name,
      group: row.grp,
      owner: row.owner,
      epoch: row.epoch,
      acquiredAt: row.acquired_at,
      expiresAt: row.expires_at,
    }));
  }
}

/**
 * The condition a guarded write puts in its own statement: a row exactly when the lease is still
 * this owner's, share-locked until the write commits. Without a lease (a single process that
 * coordinates nothing), it always holds.
 */
export function leaseFence(lease: Lease | undefined) {
  if (!lease) return sql`SELECT 1 AS held`;
  return sql`SELECT 1 AS held FROM work_leases WHERE name = ${lease.name} AND owner = ${lease.owner} AND epoch = ${lease.epoch} FOR SHARE`;
}
