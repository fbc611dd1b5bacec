import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import type { CertificateState } from "../../core/notifications/certificate.js";

export interface StateChange {
  seq: number;
  state: CertificateState;
}

/** The read model: every certificate's current state, and the stream position it reflects. */
export interface CertificateStateStore {
  position(reader: string): Promise<number>;
  /** Applies changes (any order, duplicates allowed) and moves the reader's position, atomically. */
  apply(reader: string, position: number, changes: StateChange[]): Promise<void>;
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
  async apply(reader: string, position: number, changes: StateChange[]): Promise<void> {
    const latest = latestPerCertificate(changes);
    const column = <T>(pick: (change: StateChange) => T) => latest.map(pick);
    await sql`
      WITH incoming AS (
        SELECT * FROM unnest(
          ${column((c) => c.state.certificateId)}::text[],
          ${column((c) => c.state.kind)}::text[],
          ${column((c) => c.state.deviceId)}::text[],
          ${column((c) => c.state.gridArea)}::text[],
          ${column((c) => c.state.energySource)}::text[],
          ${column((c) => c.state.owner)}::text[],
          ${column((c) => c.state.status)}::text[],
          ${column((c) => c.state.parentCertificateId ?? null)}::text[],
          ${column((c) => c.state.periodStart)}::timestamptz[],
          ${column((c) => c.state.periodEnd)}::timestamptz[],
          ${column((c) => c.state.quantityWh)}::bigint[],
          ${column((c) => c.state.version)}::int[],
          ${column((c) => c.seq)}::bigint[],
          ${column((c) => JSON.stringify(c.state))}::jsonb[]
        ) AS t(certificate_id, kind, device_id, grid_area, energy_source, owner, status, parent_certificate_id,
               period_start, period_end, quantity_wh, version, last_seq, state)
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
      )
      INSERT INTO consumer_positions (name, seq) VALUES (${reader}, ${position})
      ON CONFLICT (name) DO UPDATE SET seq = GREATEST(consumer_positions.seq, EXCLUDED.seq)
    `.execute(this.db);
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
