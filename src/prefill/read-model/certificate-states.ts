import { sql } from "kysely";
import { preparedFor } from "../../core/db/prepared.js";
import type { Executor } from "../../core/db/schema.js";
import type { CertificateState } from "../../core/notifications/certificate.js";
import { LeaseLostError, type Lease } from "../../mom/cluster/leases.js";
import { leaseFence } from "../../mom/cluster/postgres-leases.js";

export interface StateChange {
  seq: number;
  state: CertificateState;
}

/** The read model: every certificate's current state, and the stream position it reflects. */
export interface CertificateStateStore {
  position(reader: string): Promise<number>;
  /** Applies changes (any order, duplicates allowed) and moves the reader's position, atomically; refused once the lease moved on. */
  apply(reader: string, position: number, changes: StateChange[], lease?: Lease): Promise<void>;
}

export class PostgresCertificateStateStore implements CertificateStateStore {
  constructor(private readonly db: Executor) {}

  async position(reader: string): Promise<number> {
    const row = await this.db.selectFrom("consumer_positions").select("seq").where("name", "=", reader).executeTakeFirst();
    return row?.seq ?? 0;
  }

  /**
   * A newer version replaces an older one, never the reverse: applying a batch twice, or
   * again after a crash, leaves the same table, so the projection is idempotent and restart-safe.
   */
  async apply(reader: string, position: number, changes: StateChange[], lease?: Lease): Promise<void> {
    // The batch travels as one JSON document of [seq, state] pairs: parsed once by PostgreSQL
    // rather than sent as fourteen arrays whose every element is quoted and escaped.
    const latest = latestPerCertificate(changes);
    const document = JSON.stringify(latest.map((change) => [change.seq, change.state]));
    const result = await sql<{ held: boolean }>`${preparedFor(latest.length)}
      WITH fence AS (${leaseFence(lease)}), incoming AS (
        SELECT s->>'certificateId' AS certificate_id, s->>'kind' AS kind, s->>'deviceId' AS device_id,
          s->>'gridArea' AS grid_area, s->>'energySource' AS energy_source, s->>'owner' AS owner, s->>'status' AS status,
          s->>'parentCertificateId' AS parent_certificate_id, (s->>'periodStart')::timestamptz AS period_start,
          (s->>'periodEnd')::timestamptz AS period_end, (s->>'quantityWh')::bigint AS quantity_wh,
          (s->>'version')::int AS version, (pair->>0)::bigint AS last_seq, s AS state
        FROM jsonb_array_elements(${document}::jsonb) AS pair, LATERAL (SELECT pair->1 AS s) AS state
        WHERE EXISTS (SELECT 1 FROM fence)
      ), applied AS (
        INSERT INTO certificate_states (certificate_id, kind, device_id, grid_area, energy_source, owner, status,
          parent_certificate_id, period_start, period_end, quantity_wh, version, last_seq, state)
        SELECT * FROM incoming
        ON CONFLICT (certificate_id) DO UPDATE SET
          kind = EXCLUDED.kind, device_id = EXCLUDED.device_id, grid_area = EXCLUDED.grid_area,
          energy_source = EXCLUDED.energy_source, owner = EXCLUDED.owner, status = EXCLUDED.status,
          parent_certificate_id = EXCLUDED.parent_certificate_id, period_start = EXCLUDED.period_start,
          period_end = EXCLUDED.period_end, quantity_wh = EXCLUDED.quantity_wh, version = EXCLUDED.version,
          last_seq = EXCLUDED.last_seq, state = EXCLUDED.state, updated_at = now()
        WHERE certificate_states.version < EXCLUDED.version
      ), moved AS (
        INSERT INTO consumer_positions (name, seq) SELECT ${reader}, ${position} WHERE EXISTS (SELECT 1 FROM fence)
        ON CONFLICT (name) DO UPDATE SET seq = GREATEST(consumer_positions.seq, EXCLUDED.seq)
      )
      SELECT EXISTS (SELECT 1 FROM fence) AS held
    `.execute(this.db);
    if (lease && !result.rows[0]?.held) throw new LeaseLostError(lease);
  }
}

/** One row per certificate (a statement may not update a row twice): the highest version, the later one on a tie. */
function latestPerCertificate(changes: StateChange[]): StateChange[] {
  const latest = new Map<string, StateChange>();
  for (const change of changes) {
    const current = latest.get(change.state.certificateId);
    if (!current || change.state.version > current.state.version || (change.state.version === current.state.version && change.seq > current.seq)) {
      latest.set(change.state.certificateId, change);
    }
  }
  return [...latest.values()];
}
