import { sql, type RawBuilder } from "kysely";
import { PHASE_CODE, PREFILL_MARKER_SUBJECT, phaseCode, type AckId, type LeaseTarget } from "../ledger.js";

/** The phase codes as SQL literals, so statements say LIVE and PREFILL rather than 1 and 0. */
export const LIVE = sql.lit(PHASE_CODE.live);
export const PREFILL = sql.lit(PHASE_CODE.prefill);

export interface Key {
  phase: number;
  seq: number;
  /** The lease being settled; 0 where the caller does not settle a lease. */
  deliveryCount: number;
}

export interface KeyRow {
  phase: number;
  seq: number;
}

const DEADLOCK = "40P01";
const UNIQUE_VIOLATION = "23505";
const ATTEMPTS = 3;

/**
 * Runs a ledger write again when PostgreSQL aborted it as one side of a deadlock (two writers
 * that met in different orders) or, with `alsoUniqueViolation`, when a head it made met one
 * another writer made at the same moment; a few attempts, then the error stands.
 */
export async function retryOnDeadlock<T>(write: () => Promise<T>, alsoUniqueViolation = false): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      const code = (error as { code?: string }).code;
      const retriable = code === DEADLOCK || (alsoUniqueViolation && code === UNIQUE_VIOLATION);
      if (!retriable || attempt >= ATTEMPTS) throw error;
    }
  }
}

/**
 * Counts of a subscription are spread over shard rows of subscription_stats, so writers do not
 * all wait for one row: finishers pick one of the first 16 at random; each stream reader has one
 * of the next 16 (readers and finishers never wait for each other's counter rows).
 */
const SHARDS = 16;
/** Retention's shard: it only ever takes dead letters away. */
export const RETENTION_SHARD = 2 * SHARDS + 2;

/** How each counter column takes a delta: summed, or (the newest sequence queued) kept at its highest. */
const COUNTERS = {
  acked: "sum",
  settled: "sum",
  queued: "sum",
  delivered: "sum",
  dead: "sum",
  prefill_pending: "sum",
  last_queued_seq: "highest",
} as const;
export type CounterColumn = keyof typeof COUNTERS;

/** The tail of an `INSERT INTO subscription_stats` that adds its row to the shard's: one rule per column, named once. */
export function addToCounters(...columns: CounterColumn[]) {
  const sets = columns.map((column) =>
    COUNTERS[column] === "sum"
      ? `${column} = subscription_stats.${column} + EXCLUDED.${column}`
      : `${column} = GREATEST(subscription_stats.${column}, EXCLUDED.${column})`,
  );
  return sql.raw(`ON CONFLICT (subscription_id, shard) DO UPDATE SET ${sets.join(", ")}`);
}
export const settleShard = () => Math.floor(Math.random() * SHARDS);
export function readerShard(reader: string): number {
  let hash = 0;
  for (let index = 0; index < reader.length; index++) hash = (hash * 31 + reader.charCodeAt(index)) | 0;
  return SHARDS + (Math.abs(hash) % SHARDS);
}

export const toKey = (ackId: AckId): Key => ({ phase: phaseCode(ackId.phase), seq: ackId.seq, deliveryCount: ackId.deliveryCount });
export const keyOf = (row: KeyRow): Key => ({ phase: row.phase, seq: row.seq, deliveryCount: 0 });
export const keyString = (row: KeyRow) => `${row.phase}:${row.seq}`;

/** Only the current lease of a message settles it: a redelivery has raised its count since. */
export const LEASE_HELD = sql`d.delivery_count = i.delivery_count`;

/**
 * The same keys as plain index conditions. Redundant with the join on the key table, but it
 * keeps the look-up an index probe whichever way the planner orders the join: on a table it has
 * no statistics for yet (a new deployment, a test), it takes the deliveries as the outer side.
 */
export function amongKeys(keys: ReadonlyArray<{ phase: number; seq: number }>) {
  const phases = [...new Set(keys.map((key) => key.phase))];
  return sql`d.phase = ANY(${phases}::smallint[]) AND d.seq = ANY(${keys.map((key) => key.seq)}::bigint[])`;
}

export function keyTable(keys: Key[]) {
  return sql`SELECT * FROM unnest(
    ${keys.map((key) => key.phase)}::smallint[],
    ${keys.map((key) => key.seq)}::bigint[],
    ${keys.map((key) => key.deliveryCount)}::int[]
  ) AS t(phase, seq, delivery_count)`;
}

/**
 * Live messages go out once the subscription's prefill (if any) is complete and every prefill
 * message is finished: all prefill messages come before any live one, across redeliveries too.
 * Prefill messages are one per certificate, each its own head, and take no part in subject order.
 */
export function liveAllowed(target: LeaseTarget) {
  return sql`(${target.liveFromSeq}::bigint IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM deliveries p WHERE p.subscription_id = ${target.id} AND p.phase = ${PREFILL} AND p.state = 'pending' AND p.is_head
  ))`;
}

/**
 * A delivery's notification as JSON text: a live one as journaled (`n`), a prefill one made from
 * the copied state and its snapshot (`ps`), with an id derived from subscription and position,
 * so every redelivery carries the same one.
 */
export function messageJson(alias: string): RawBuilder<string> {
  const row = (column: string) => sql.ref(`${alias}.${column}`);
  const snapshotId = sql`overlay(overlay(md5(${row("subscription_id")}::text || '/' || ${row("seq")}) placing '4' from 13) placing '8' from 17)::uuid`;
  const time = sql`to_char(ps.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  return sql<string>`CASE WHEN ${row("phase")} = ${LIVE} THEN n.envelope::text
    WHEN ${row("subject")} = ${PREFILL_MARKER_SUBJECT} THEN json_build_object(
    'id', ${snapshotId}, 'type', 'prefill.completed',
    'source', json_build_object('name', 'certflow', 'version', ps.source_version),
    'time', ${time}, 'subject', ${row("subscription_id")}::text, 'parentId', NULL, 'correlationId', ${snapshotId},
    'channel', 'prefill', 'data', json_build_object('subscriptionId', ${row("subscription_id")}, 'count', ps.total, 'position', ps.position))::text
    ELSE json_build_object(
    'id', ${snapshotId}, 'type', 'certificate.snapshot',
    'source', json_build_object('name', 'certflow', 'version', ps.source_version),
    'time', ${time},
    'subject', ${row("subject")}, 'parentId', NULL, 'correlationId', ${snapshotId},
    'channel', 'prefill', 'data', ${row("payload")})::text END`;
}

/** Snapshots go out at once; the prefill's boundary marker only when every snapshot is finished. */
export function prefillAllowed(target: LeaseTarget) {
  return sql`(d.phase = ${PREFILL} AND (d.subject <> ${PREFILL_MARKER_SUBJECT} OR NOT EXISTS (
    SELECT 1 FROM deliveries p WHERE p.subscription_id = ${target.id} AND p.phase = ${PREFILL} AND p.state = 'pending' AND p.is_head
      AND p.subject <> ${PREFILL_MARKER_SUBJECT}
  )))`;
}

/** Attempts a delivery has used of its budget: those since its last rewind. */
export const ATTEMPTS_USED = sql`(d.delivery_count - d.replay_base)`;

/** Joins that `messageJson(alias)` reads from. */
export function messageSources(alias: string, subscriptionId: RawBuilder<unknown>) {
  return sql`LEFT JOIN notifications n ON ${sql.ref(`${alias}.phase`)} = ${LIVE} AND n.seq = ${sql.ref(`${alias}.seq`)}
      LEFT JOIN prefill_snapshots ps ON ${sql.ref(`${alias}.phase`)} = ${PREFILL} AND ps.subscription_id = ${subscriptionId}`;
}
