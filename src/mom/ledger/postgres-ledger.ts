import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import {
  phaseCode,
  phaseName,
  type AckId,
  type AppendLiveInput,
  type DeadLetter,
  type DeadLetterCursor,
  type DeliveryLedger,
  type LeaseResult,
  type LeaseTarget,
  type LedgerStats,
  type Phase,
  type SettleOutcome,
  type SettleStatus,
} from "./ledger.js";

/** A pending row blocks or is eligible only if it is live-deliverable: prefill rows always, live rows from liveFromSeq on. */
const deliverable = (alias: string, liveFromSeq: number | null) =>
  sql`(${sql.ref(`${alias}.phase`)} = 0 OR (${liveFromSeq}::bigint IS NOT NULL AND ${sql.ref(`${alias}.seq`)} >= ${liveFromSeq}::bigint))`;

interface KeyRow {
  phase: number;
  seq: number;
}

export class PostgresDeliveryLedger implements DeliveryLedger {
  constructor(private readonly db: Executor) {}

  async position(reader: string): Promise<number> {
    const row = await this.db.selectFrom("consumer_positions").select("seq").where("name", "=", reader).executeTakeFirst();
    return row?.seq ?? 0;
  }

  async appendLive(input: AppendLiveInput): Promise<Map<string, number>> {
    const { entries, deliveries } = input;
    // One statement, so one transaction: journal, deliveries and position commit together or not at all.
    // A notification already journaled (a redelivery, or the same id beyond the broker's duplicate window)
    // creates no delivery.
    const result = await sql<{ subscription_id: string; created: number }>`
      WITH journaled AS (
        INSERT INTO notifications (seq, id, type, subject, source_name, parent_id, correlation_id, time, envelope)
        SELECT * FROM unnest(
          ${entries.map((entry) => entry.seq)}::bigint[],
          ${entries.map((entry) => entry.id)}::uuid[],
          ${entries.map((entry) => entry.type)}::text[],
          ${entries.map((entry) => entry.subject)}::text[],
          ${entries.map((entry) => entry.sourceName)}::text[],
          ${entries.map((entry) => entry.parentId)}::uuid[],
          ${entries.map((entry) => entry.correlationId)}::uuid[],
          ${entries.map((entry) => entry.time)}::timestamptz[],
          ${entries.map((entry) => entry.json)}::json[]
        )
        ON CONFLICT DO NOTHING
        RETURNING seq
      ), delivered AS (
        INSERT INTO deliveries (subscription_id, phase, seq, subject)
        SELECT d.subscription_id, 1, d.seq, d.subject
        FROM unnest(
          ${deliveries.map((delivery) => delivery.subscriptionId)}::uuid[],
          ${deliveries.map((delivery) => delivery.seq)}::bigint[],
          ${deliveries.map((delivery) => delivery.subject)}::text[]
        ) AS d(subscription_id, seq, subject)
        WHERE d.seq IN (SELECT seq FROM journaled)
        ON CONFLICT DO NOTHING
        RETURNING subscription_id
      ), moved AS (
        INSERT INTO consumer_positions (name, seq) VALUES (${input.reader}, ${input.position})
        ON CONFLICT (name) DO UPDATE SET seq = GREATEST(consumer_positions.seq, EXCLUDED.seq)
      )
      SELECT subscription_id, count(*)::int AS created FROM delivered GROUP BY subscription_id
    `.execute(this.db);
    return new Map(result.rows.map((row) => [row.subscription_id, row.created]));
  }

  async lease(target: LeaseTarget, max: number): Promise<LeaseResult> {
    const result = await sql<KeyRow & { delivery_count: number; state: string; envelope: string }>`
      WITH candidates AS (
        SELECT d.phase, d.seq FROM deliveries d
        WHERE d.subscription_id = ${target.id} AND d.state = 'pending' AND d.available_at <= now()
          AND ${deliverable("d", target.liveFromSeq)}
          AND NOT EXISTS (
            SELECT 1 FROM deliveries e
            WHERE e.subscription_id = ${target.id} AND e.subject = d.subject AND e.state = 'pending'
              AND (e.phase, e.seq) < (d.phase, d.seq)
              AND ${deliverable("e", target.liveFromSeq)}
          )
        ORDER BY d.phase, d.seq
        LIMIT ${max}
        FOR UPDATE SKIP LOCKED
      ), leased AS (
        UPDATE deliveries d SET
          state = CASE WHEN d.delivery_count >= ${target.maxDeliveries} THEN 'dead' ELSE 'pending' END,
          dead_reason = CASE WHEN d.delivery_count >= ${target.maxDeliveries} THEN 'max_deliveries' END,
          finished_at = CASE WHEN d.delivery_count >= ${target.maxDeliveries} THEN now() END,
          delivery_count = LEAST(d.delivery_count + 1, ${target.maxDeliveries}),
          available_at = now() + make_interval(secs => ${target.ackTimeoutSeconds}),
          last_delivered_at = CASE WHEN d.delivery_count >= ${target.maxDeliveries} THEN d.last_delivered_at ELSE now() END
        FROM candidates c
        WHERE d.subscription_id = ${target.id} AND d.phase = c.phase AND d.seq = c.seq
        RETURNING d.phase, d.seq, d.delivery_count, d.state, d.payload
      )
      SELECT l.phase, l.seq, l.delivery_count, l.state, COALESCE(l.payload, n.envelope)::text AS envelope
      FROM leased l LEFT JOIN notifications n ON l.phase = 1 AND n.seq = l.seq
      ORDER BY l.phase, l.seq
    `.execute(this.db);
    const delivered = result.rows.filter((row) => row.state === "pending");
    return {
      deadLettered: result.rows.length - delivered.length,
      messages: delivered.map((row) => {
        const phase = phaseName(row.phase);
        return {
          ackId: { phase, seq: row.seq, deliveryCount: row.delivery_count },
          sequence: row.seq,
          deliveryCount: row.delivery_count,
          phase,
          notificationJson: row.envelope,
        };
      }),
    };
  }

  async nextAvailableAt(target: LeaseTarget): Promise<Date | undefined> {
    const result = await sql<{ next: Date | null }>`
      SELECT min(d.available_at) AS next FROM deliveries d
      WHERE d.subscription_id = ${target.id} AND d.state = 'pending' AND ${deliverable("d", target.liveFromSeq)}
    `.execute(this.db);
    return result.rows[0]?.next ?? undefined;
  }

  async ack(subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]> {
    const settled = await sql<KeyRow>`
      WITH input AS (${leaseKeys(ackIds)}),
      done AS (
        UPDATE deliveries d SET state = 'acked', finished_at = now()
        FROM input i
        WHERE d.subscription_id = ${subscriptionId} AND d.phase = i.phase AND d.seq = i.seq
          AND d.state = 'pending' AND d.delivery_count = i.delivery_count
        RETURNING d.phase, d.seq
      ), counted AS (
        INSERT INTO subscription_stats (subscription_id, acked)
        SELECT ${subscriptionId}, count(*) FROM done HAVING count(*) > 0
        ON CONFLICT (subscription_id) DO UPDATE SET acked = subscription_stats.acked + EXCLUDED.acked
      )
      SELECT phase, seq FROM done
    `.execute(this.db);
    return this.outcomes(subscriptionId, ackIds, settled.rows, () => "acked");
  }

  async nack(target: LeaseTarget, ackIds: AckId[], delaySeconds: number): Promise<SettleOutcome[]> {
    const settled = await sql<KeyRow & { state: string }>`
      WITH input AS (${leaseKeys(ackIds)})
      UPDATE deliveries d SET
        available_at = now() + make_interval(secs => ${delaySeconds}),
        state = CASE WHEN d.delivery_count >= ${target.maxDeliveries} THEN 'dead' ELSE 'pending' END,
        dead_reason = CASE WHEN d.delivery_count >= ${target.maxDeliveries} THEN 'max_deliveries' END,
        finished_at = CASE WHEN d.delivery_count >= ${target.maxDeliveries} THEN now() END
      FROM input i
      WHERE d.subscription_id = ${target.id} AND d.phase = i.phase AND d.seq = i.seq
        AND d.state = 'pending' AND d.delivery_count = i.delivery_count
      RETURNING d.phase, d.seq, d.state
    `.execute(this.db);
    return this.outcomes(target.id, ackIds, settled.rows, (row) => (row.state === "dead" ? "dead_lettered" : "nacked"));
  }

  async reject(subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]> {
    const settled = await sql<KeyRow>`
      WITH input AS (${leaseKeys(ackIds)})
      UPDATE deliveries d SET state = 'dead', dead_reason = 'rejected', finished_at = now()
      FROM input i
      WHERE d.subscription_id = ${subscriptionId} AND d.phase = i.phase AND d.seq = i.seq
        AND d.state = 'pending' AND d.delivery_count = i.delivery_count
      RETURNING d.phase, d.seq
    `.execute(this.db);
    return this.outcomes(subscriptionId, ackIds, settled.rows, () => "dead_lettered");
  }

  /** Names what happened to each ack id; those not settled are told apart as expired (handed out again) or not found. */
  private async outcomes<R extends KeyRow>(
    subscriptionId: string,
    ackIds: AckId[],
    settled: R[],
    statusOf: (row: R) => SettleStatus,
  ): Promise<SettleOutcome[]> {
    const key = (phase: number, seq: number) => `${phase}:${seq}`;
    const settledByKey = new Map(settled.map((row) => [key(row.phase, row.seq), row]));
    const unsettled = ackIds.filter((ackId) => !settledByKey.has(key(phaseCode(ackId.phase), ackId.seq)));
    const stillPending = new Set<string>();
    if (unsettled.length > 0) {
      const rows = await sql<KeyRow>`
        WITH input AS (${leaseKeys(unsettled)})
        SELECT d.phase, d.seq FROM deliveries d JOIN input i ON d.phase = i.phase AND d.seq = i.seq
        WHERE d.subscription_id = ${subscriptionId} AND d.state = 'pending'
      `.execute(this.db);
      for (const row of rows.rows) stillPending.add(key(row.phase, row.seq));
    }
    return ackIds.map((ackId) => {
      const rowKey = key(phaseCode(ackId.phase), ackId.seq);
      const row = settledByKey.get(rowKey);
      if (row) return { ackId, status: statusOf(row) };
      return { ackId, status: stillPending.has(rowKey) ? "expired" : "not_found" };
    });
  }

  async deadLetters(subscriptionId: string, limit: number, after?: DeadLetterCursor): Promise<DeadLetter[]> {
    const afterClause = after
      ? sql`AND (d.finished_at, d.phase, d.seq) > (${after.deadLetteredAt}::timestamptz, ${phaseCode(after.phase)}::smallint, ${after.sequence}::bigint)`
      : sql``;
    const result = await sql<KeyRow & { delivery_count: number; dead_reason: string; finished_at: Date; envelope: string }>`
      SELECT d.phase, d.seq, d.delivery_count, d.dead_reason, d.finished_at, COALESCE(d.payload, n.envelope)::text AS envelope
      FROM deliveries d LEFT JOIN notifications n ON d.phase = 1 AND n.seq = d.seq
      WHERE d.subscription_id = ${subscriptionId} AND d.state = 'dead' ${afterClause}
      ORDER BY d.finished_at, d.phase, d.seq
      LIMIT ${limit}
    `.execute(this.db);
    return result.rows.map((row) => ({
      phase: phaseName(row.phase),
      sequence: row.seq,
      deliveryCount: row.delivery_count,
      reason: row.dead_reason,
      deadLetteredAt: row.finished_at,
      notificationJson: row.envelope,
    }));
  }

  async redrive(subscriptionId: string, only?: Array<{ phase: Phase; sequence: number }>): Promise<number> {
    const selection = only
      ? sql`AND (d.phase, d.seq) IN (SELECT * FROM unnest(${only.map((item) => phaseCode(item.phase))}::smallint[], ${only.map((item) => item.sequence)}::bigint[]))`
      : sql``;
    const result = await sql`
      UPDATE deliveries d SET state = 'pending', delivery_count = 0, available_at = now(), finished_at = NULL, dead_reason = NULL
      WHERE d.subscription_id = ${subscriptionId} AND d.state = 'dead' ${selection}
    `.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }

  async stats(target: LeaseTarget): Promise<LedgerStats> {
    const result = await sql<{ pending: number; dead: number; acked: number }>`
      SELECT
        (SELECT count(*) FROM deliveries d WHERE d.subscription_id = ${target.id} AND d.state = 'pending'
           AND (d.phase = 0 OR d.seq >= COALESCE(${target.liveFromSeq}::bigint, 0)))::int AS pending,
        (SELECT count(*) FROM deliveries d WHERE d.subscription_id = ${target.id} AND d.state = 'dead')::int AS dead,
        COALESCE((SELECT acked FROM subscription_stats WHERE subscription_id = ${target.id}), 0) AS acked
    `.execute(this.db);
    const row = result.rows[0]!;
    return { pending: row.pending, acked: row.acked, deadLettered: row.dead };
  }
}

function leaseKeys(ackIds: AckId[]) {
  return sql`SELECT * FROM unnest(
    ${ackIds.map((ackId) => phaseCode(ackId.phase))}::smallint[],
    ${ackIds.map((ackId) => ackId.seq)}::bigint[],
    ${ackIds.map((ackId) => ackId.deliveryCount)}::int[]
  ) AS t(phase, seq, delivery_count)`;
}
