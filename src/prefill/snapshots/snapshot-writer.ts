import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import type { Filter, WhereKey } from "../../core/filters.js";
import type { PostgresDeliveryLedger } from "../../mom/ledger/postgres-ledger.js";
import type { PrefillJob } from "./prefill-queue.js";

export interface SnapshotProgress {
  total: number;
  sent: number;
}

export interface SnapshotResult {
  /** The read-model position P the snapshot reflects. */
  position: number;
  total: number;
}

export interface SnapshotWriter {
  /**
   * Writes one `certificate.snapshot` per matching certificate into the subscription's queue,
   * all or nothing. Calls `onProgress` after each page; `signal` aborts between pages.
   */
  write(job: PrefillJob, onProgress: (progress: SnapshotProgress) => void, signal: AbortSignal): Promise<SnapshotResult>;
}

const COLUMN: Record<WhereKey, string> = {
  gridArea: "grid_area",
  owner: "owner",
  energySource: "energy_source",
  kind: "kind",
  deviceId: "device_id",
};

/**
 * The snapshot in PostgreSQL. One REPEATABLE READ transaction reads the projection's position
 * P and the certificates together, so the snapshot is exactly the state as of P; rows are
 * copied server-side in keyset pages (nothing is held in this process), and the completion row
 * commits with them. A crash or abort rolls everything back: the subscriber never sees a part
 * of a snapshot, nor parts of two.
 */
export class PostgresSnapshotWriter implements SnapshotWriter {
  constructor(
    private readonly db: Executor,
    private readonly ledger: PostgresDeliveryLedger,
    private readonly projectionReader: string,
    private readonly pageSize: number,
    private readonly sourceVersion: string,
  ) {}

  write(job: PrefillJob, onProgress: (progress: SnapshotProgress) => void, signal: AbortSignal): Promise<SnapshotResult> {
    const matches = matchesFilters(job.filters);
    return this.db
      .transaction()
      .setIsolationLevel("repeatable read")
      .execute(async (trx) => {
        const position = await sql<{ seq: number | null; total: number }>`
          SELECT (SELECT seq FROM consumer_positions WHERE name = ${this.projectionReader}) AS seq,
                 (SELECT count(*) FROM certificate_states c WHERE ${matches})::int AS total
        `.execute(trx);
        const { seq, total } = position.rows[0]!;
        let sent = 0;
        let after = "";
        onProgress({ total, sent });
        for (;;) {
          signal.throwIfAborted();
          // The state is copied as stored; the snapshot message around it is made when it is read.
          const page = sql<{ subject: string; payload: unknown }>`
            SELECT c.certificate_id AS subject, c.state AS payload FROM certificate_states c
            WHERE ${matches} AND c.certificate_id > ${after}
            ORDER BY c.certificate_id
            LIMIT ${this.pageSize}
          `;
          const { copied, last } = await this.ledger.within(trx).appendSnapshot(job.subscriptionId, sent, page);
          if (copied === 0 || last === null) break;
          sent += copied;
          after = last;
          onProgress({ total, sent });
        }
        await this.ledger.within(trx).appendPrefillMarker(job.subscriptionId, sent + 1);
        await trx
          .insertInto("prefill_snapshots")
          .values({ subscription_id: job.subscriptionId, position: seq ?? 0, total: sent, source_version: this.sourceVersion })
          .execute();
        return { position: seq ?? 0, total: sent };
      });
  }
}

/** A filter's `where` as SQL over the read model; filters are OR-ed, keys AND-ed, values OR-ed. Types do not apply to state. */
function matchesFilters(filters: readonly Filter[]): RawBuilder<unknown> {
  const clauses = filters.map((filter) => {
    const keys = Object.entries(filter.where ?? {}).filter((entry): entry is [WhereKey, string[]] => entry[1] !== undefined);
    if (keys.length === 0) return sql`true`;
    return sql`(${sql.join(
      keys.map(([key, values]) => sql`${sql.ref(`c.${COLUMN[key]}`)} = ANY(${values}::text[])`),
      sql` AND `,
    )})`;
  });
  return sql`(${sql.join(clauses, sql` OR `)})`;
}
