import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import { LeaseLostError } from "../cluster/leases.js";
import { leaseFence } from "../cluster/postgres-leases.js";
import {
  phaseCode,
  phaseName,
  type AckId,
  type AppendLiveInput,
  type DeadLetter,
  type JournalEntry,
  type DeadLetterCursor,
  type DeliveryLedger,
  type LeaseResult,
  type LeaseTarget,
  type NackItem,
  type LedgerStats,
  type Phase,
  type SettleOutcome,
  type SettleStatus,
} from "./ledger.js";

interface Key {
  phase: number;
  seq: number;
  /** The lease being settled; 0 where the caller does not settle a lease. */
  deliveryCount: number;
}

interface KeyRow {
  phase: number;
  seq: number;
}

type Finish = { state: "acked"; reason: null } | { state: "dead"; reason: "rejected" | "max_deliveries" } | { state: "skipped"; reason: null };

const DEADLOCK = "40P01";
/** Rows an acknowledgement count is spread over (see subscription_stats). */
const STATS_SHARDS = 16;
const statsShard = () => Math.floor(Math.random() * STATS_SHARDS);
/** Rounds of clearing dead or stale heads before a lease answers with what it has. */
const MAX_LEASE_ROUNDS = 10;
const ATTEMPTS = 3;

/**
 * The delivery ledger in PostgreSQL.
 *
 * Invariant: every (subscription, subject) with pending rows has exactly one head, its lowest
 * (phase, seq) pending row, and only heads are handed out. `delivery_groups` counts pending rows
 * per subject; whoever adds rows and whoever finishes a head take that row's lock, so a finished
 * head's successor is always found and promoted, even while the dispatcher adds to the subject.
 */
export class PostgresDeliveryLedger implements DeliveryLedger {
  constructor(private readonly db: Executor) {}

  async position(reader: string): Promise<number> {
    const row = await this.db.selectFrom("consumer_positions").select("seq").where("name", "=", reader).executeTakeFirst();
    return row?.seq ?? 0;
  }

  async appendLive(input: AppendLiveInput): Promise<Map<string, number>> {
    const { entries, deliveries } = input;
    // One statement, so one transaction: journal, deliveries, subject counts and position commit
    // together or not at all. A notification already journaled (a redelivery, or the same id
    // beyond the broker's duplicate window) creates no delivery. Groups are locked in
    // (subscription, subject) order, the order every finisher uses too.
    // The reader's lease is checked (and share-locked) in the same statement: a stale owner writes nothing.
    const result = await sql<{ subscription_id: string | null; created: number }>`
      WITH fence AS (${leaseFence(input.lease)}), journaled AS (
        INSERT INTO notifications (seq, id, type, subject, source_name, parent_id, correlation_id, time, envelope)
        SELECT * FROM json_to_recordset(${journalRows(entries)}::json) AS t(
          seq bigint, id uuid, type text, subject text, source_name text, parent_id uuid, correlation_id uuid,
          time timestamptz, envelope json)
        WHERE EXISTS (SELECT 1 FROM fence)
        ON CONFLICT DO NOTHING
        RETURNING seq
      ), wanted AS (
        SELECT d.subscription_id, d.seq, d.subject
        FROM unnest(
          ${deliveries.map((delivery) => delivery.subscriptionId)}::uuid[],
          ${deliveries.map((delivery) => delivery.seq)}::bigint[],
          ${deliveries.map((delivery) => delivery.subject)}::text[]
        ) AS d(subscription_id, seq, subject)
        WHERE d.seq IN (SELECT seq FROM journaled)
      ), counts AS (
        SELECT subscription_id, subject, count(*)::int AS added, min(seq) AS first_seq
        FROM wanted GROUP BY subscription_id, subject
      ), grouped AS (
        INSERT INTO delivery_groups (subscription_id, subject, pending)
        SELECT subscription_id, subject, added FROM counts ORDER BY subscription_id, subject
        ON CONFLICT (subscription_id, subject) DO UPDATE SET pending = delivery_groups.pending + EXCLUDED.pending
        RETURNING subscription_id, subject, pending
      ), delivered AS (
        INSERT INTO deliveries (subscription_id, phase, seq, subject, is_head)
        SELECT w.subscription_id, 1, w.seq, w.subject, (g.pending = c.added AND w.seq = c.first_seq)
        FROM wanted w
        JOIN counts c ON c.subscription_id = w.subscription_id AND c.subject = w.subject
        JOIN grouped g ON g.subscription_id = w.subscription_id AND g.subject = w.subject
        RETURNING subscription_id
      ), moved AS (
        INSERT INTO consumer_positions (name, seq) SELECT ${input.reader}, ${input.position} WHERE EXISTS (SELECT 1 FROM fence)
        ON CONFLICT (name) DO UPDATE SET seq = GREATEST(consumer_positions.seq, EXCLUDED.seq)
      )
      SELECT subscription_id, count(*)::int AS created FROM delivered GROUP BY subscription_id
      UNION ALL SELECT NULL, -1 WHERE NOT EXISTS (SELECT 1 FROM fence)
    `.execute(this.db);
    if (input.lease && result.rows.some((row) => row.subscription_id === null)) throw new LeaseLostError(input.lease);
    return new Map(result.rows.map((row) => [row.subscription_id!, row.created]));
  }

  /**
   * Leases available heads in (phase, seq) order. Heads whose last allowed delivery timed out
   * are dead-lettered instead, and live heads the prefill snapshot already covers are skipped;
   * both free the next message of their subject, so the lease looks again.
   */
  async lease(target: LeaseTarget, max: number): Promise<LeaseResult> {
    let deadLettered = 0;
    for (let round = 1; ; round++) {
      const rows = await this.leaseHeads(target, max);
      const messages = rows.filter((row) => row.disposition === "leased");
      const exhausted = rows.filter((row) => row.disposition === "exhausted");
      const stale = rows.filter((row) => row.disposition === "stale");
      if (exhausted.length > 0) {
        const guard = sql`d.delivery_count >= ${target.maxDeliveries} AND d.available_at <= now()`;
        deadLettered += (await this.finish(target.id, exhausted.map(keyOf), { state: "dead", reason: "max_deliveries" }, guard)).length;
      }
      if (stale.length > 0) {
        await this.finish(target.id, stale.map(keyOf), { state: "skipped", reason: null }, sql`d.phase = 1 AND d.seq < ${target.liveFromSeq}`);
      }
      if (messages.length > 0 || (exhausted.length === 0 && stale.length === 0) || round >= MAX_LEASE_ROUNDS) {
        return {
          deadLettered,
          messages: messages.map((row) => {
            const phase = phaseName(row.phase);
            return {
              ackId: { phase, seq: row.seq, deliveryCount: row.delivery_count },
              sequence: row.seq,
              deliveryCount: row.delivery_count,
              phase,
              notificationJson: row.envelope!,
            };
          }),
        };
      }
    }
  }

  private async leaseHeads(target: LeaseTarget, max: number) {
    const live = target.liveFromSeq;
    const result = await sql<KeyRow & { delivery_count: number; disposition: "leased" | "exhausted" | "stale"; envelope: string | null }>`
      WITH candidates AS (
        SELECT d.phase, d.seq,
          CASE
            WHEN d.phase = 1 AND d.seq < ${live}::bigint THEN 'stale'
            WHEN d.delivery_count >= ${target.maxDeliveries} THEN 'exhausted'
            ELSE 'leased'
          END AS disposition
        FROM deliveries d
        WHERE d.subscription_id = ${target.id} AND d.state = 'pending' AND d.is_head AND d.available_at <= now()
          AND (d.phase = 0 OR ${liveAllowed(target)})
        ORDER BY d.phase, d.seq
        LIMIT ${max}
        FOR UPDATE SKIP LOCKED
      ), leased AS (
        UPDATE deliveries d SET
          delivery_count = d.delivery_count + 1,
          available_at = now() + make_interval(secs => ${target.ackTimeoutSeconds}),
          last_delivered_at = now()
        FROM candidates c
        WHERE d.subscription_id = ${target.id} AND d.phase = c.phase AND d.seq = c.seq AND c.disposition = 'leased'
        RETURNING d.subscription_id, d.phase, d.seq, d.subject, d.delivery_count, d.payload
      )
      SELECT l.phase, l.seq, l.delivery_count, 'leased' AS disposition, ${messageJson("l")} AS envelope
      FROM leased l
      LEFT JOIN notifications n ON l.phase = 1 AND n.seq = l.seq
      LEFT JOIN prefill_snapshots ps ON l.phase = 0 AND ps.subscription_id = ${target.id}
      UNION ALL
      SELECT c.phase, c.seq, 0, c.disposition, NULL FROM candidates c WHERE c.disposition <> 'leased'
      ORDER BY 1, 2
    `.execute(this.db);
    return result.rows;
  }

  async nextAvailableAt(target: LeaseTarget): Promise<Date | undefined> {
    const result = await sql<{ next: Date | null }>`
      SELECT min(d.available_at) AS next FROM deliveries d
      WHERE d.subscription_id = ${target.id} AND d.state = 'pending' AND d.is_head
        AND (d.phase = 0 OR ${liveAllowed(target)})
    `.execute(this.db);
    return result.rows[0]?.next ?? undefined;
  }

  async ack(subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]> {
    const keys = ackIds.map(toKey);
    const acked = await this.finish(subscriptionId, keys, { state: "acked", reason: null }, LEASE_HELD);
    return this.outcomes(subscriptionId, ackIds, new Map(acked.map((row) => [keyString(row), "acked" as const])));
  }

  async reject(subscriptionId: string, ackIds: AckId[]): Promise<SettleOutcome[]> {
    const rejected = await this.finish(subscriptionId, ackIds.map(toKey), { state: "dead", reason: "rejected" }, LEASE_HELD);
    return this.outcomes(subscriptionId, ackIds, new Map(rejected.map((row) => [keyString(row), "dead_lettered" as const])));
  }

  /** A nack on the last allowed delivery dead-letters; any other makes the message available again after its delay. */
  async nack(target: LeaseTarget, items: NackItem[]): Promise<SettleOutcome[]> {
    const ackIds = items.map((item) => item.ackId);
    const keys = ackIds.map(toKey);
    const settled = new Map<string, SettleStatus>();
    const lastAttempt = sql`${LEASE_HELD} AND d.delivery_count >= ${target.maxDeliveries}`;
    for (const row of await this.finish(target.id, keys, { state: "dead", reason: "max_deliveries" }, lastAttempt)) {
      settled.set(keyString(row), "dead_lettered");
    }
    const released = await sql<KeyRow>`
      UPDATE deliveries d SET available_at = now() + make_interval(secs => i.delay_seconds)
      FROM unnest(
        ${keys.map((key) => key.phase)}::smallint[],
        ${keys.map((key) => key.seq)}::bigint[],
        ${keys.map((key) => key.deliveryCount)}::int[],
        ${items.map((item) => item.delaySeconds)}::float8[]
      ) AS i(phase, seq, delivery_count, delay_seconds)
      WHERE d.subscription_id = ${target.id} AND ${amongKeys(keys)} AND d.phase = i.phase AND d.seq = i.seq
        AND d.state = 'pending' AND ${LEASE_HELD}
      RETURNING d.phase, d.seq
    `.execute(this.db);
    for (const row of released.rows) settled.set(keyString(row), "nacked");
    return this.outcomes(target.id, ackIds, settled);
  }

  /**
   * Finishes heads (those the guard admits) and promotes each subject's next pending row, in one
   * transaction. The promotion runs as a second statement so that it sees rows the dispatcher
   * committed while the first waited for a subject's group lock. Input keys are sorted, so group
   * rows are usually locked in subject order, as the dispatcher locks them; a deadlock that
   * still happens is retried.
   */
  private async finish(subscriptionId: string, keys: Key[], finish: Finish, guard: RawBuilder<unknown>): Promise<KeyRow[]> {
    if (keys.length === 0) return [];
    const sorted = [...keys].sort((a, b) => a.phase - b.phase || a.seq - b.seq);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          // Finished rows and the groups' new counts come back as one list, told apart by `kind`.
          const result = await sql<KeyRow & { kind: "done" | "group"; subject: string; pending: number }>`
            WITH done AS (
              UPDATE deliveries d SET state = ${finish.state}, is_head = false, finished_at = now(), dead_reason = ${finish.reason}
              FROM (${keyTable(sorted)}) i
              WHERE d.subscription_id = ${subscriptionId} AND ${amongKeys(sorted)} AND d.phase = i.phase AND d.seq = i.seq
                AND d.state = 'pending' AND d.is_head AND ${guard}
              RETURNING d.phase, d.seq, d.subject
            ), counts AS MATERIALIZED (
              SELECT subject, count(*)::int AS finished FROM done WHERE phase = 1 GROUP BY subject ORDER BY subject
            ), decremented AS (
              UPDATE delivery_groups g SET pending = g.pending - c.finished
              FROM counts c
              WHERE g.subscription_id = ${subscriptionId} AND g.subject = c.subject
              RETURNING g.subject, g.pending
            ), counted AS (
              INSERT INTO subscription_stats (subscription_id, shard, acked)
              SELECT ${subscriptionId}, ${statsShard()}, count(*) FROM done WHERE ${finish.state} = 'acked' HAVING count(*) > 0
              ON CONFLICT (subscription_id, shard) DO UPDATE SET acked = subscription_stats.acked + EXCLUDED.acked
            )
            SELECT 'done' AS kind, phase, seq, subject, 0 AS pending FROM done
            UNION ALL
            SELECT 'group' AS kind, 0, 0, subject, pending FROM decremented
          `.execute(trx);
          const unblocked = result.rows.filter((row) => row.kind === "group" && row.pending > 0).map((row) => row.subject);
          if (unblocked.length > 0) await promoteHeads(trx, subscriptionId, unblocked);
          return result.rows.filter((row) => row.kind === "done");
        });
      } catch (error) {
        // Two settles of the same leases in different orders can deadlock; PostgreSQL aborts one.
        if ((error as { code?: string }).code !== DEADLOCK || attempt >= ATTEMPTS) throw error;
      }
    }
  }

  /** Names what happened to each ack id; those not settled are told apart as expired (handed out again) or not found. */
  private async outcomes(subscriptionId: string, ackIds: AckId[], settled: Map<string, SettleStatus>): Promise<SettleOutcome[]> {
    const unsettled = ackIds.map(toKey).filter((key) => !settled.has(keyString(key)));
    const stillPending = new Set<string>();
    if (unsettled.length > 0) {
      const rows = await sql<KeyRow>`
        SELECT d.phase, d.seq FROM deliveries d JOIN (${keyTable(unsettled)}) i ON d.phase = i.phase AND d.seq = i.seq
        WHERE d.subscription_id = ${subscriptionId} AND ${amongKeys(unsettled)} AND d.state = 'pending'
      `.execute(this.db);
      for (const row of rows.rows) stillPending.add(keyString(row));
    }
    return ackIds.map((ackId) => {
      const key = keyString(toKey(ackId));
      return { ackId, status: settled.get(key) ?? (stillPending.has(key) ? "expired" : "not_found") };
    });
  }

  async deadLetters(subscriptionId: string, limit: number, after?: DeadLetterCursor): Promise<DeadLetter[]> {
    const afterClause = after ? sql`AND (d.phase, d.seq) > (${phaseCode(after.phase)}::smallint, ${after.sequence}::bigint)` : sql``;
    const result = await sql<KeyRow & { delivery_count: number; dead_reason: string; finished_at: Date; envelope: string }>`
      SELECT d.phase, d.seq, d.delivery_count, d.dead_reason, d.finished_at, ${messageJson("d")} AS envelope
      FROM deliveries d
      LEFT JOIN notifications n ON d.phase = 1 AND n.seq = d.seq
      LEFT JOIN prefill_snapshots ps ON d.phase = 0 AND ps.subscription_id = d.subscription_id
      WHERE d.subscription_id = ${subscriptionId} AND d.state = 'dead' ${afterClause}
      ORDER BY d.phase, d.seq
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

  /**
   * Returns dead letters to their subjects' queues with a fresh delivery count. A redriven
   * message becomes its subject's head when nothing else of that subject is pending; otherwise
   * it is next in line, since it is older than what came after it.
   */
  async redrive(subscriptionId: string, only?: Array<{ phase: Phase; sequence: number }>): Promise<number> {
    const selection = only
      ? sql`AND (d.phase, d.seq) IN (SELECT * FROM unnest(${only.map((item) => phaseCode(item.phase))}::smallint[], ${only.map((item) => item.sequence)}::bigint[]))`
      : sql``;
    return this.db.transaction().execute(async (trx) => {
      const dead = await sql<KeyRow & { subject: string }>`
        SELECT d.phase, d.seq, d.subject FROM deliveries d
        WHERE d.subscription_id = ${subscriptionId} AND d.state = 'dead' ${selection}
        ORDER BY d.phase, d.seq
        FOR UPDATE
      `.execute(trx);
      if (dead.rows.length === 0) return 0;
      const groups = await sql<{ subject: string; pending: number; added: number; first_phase: number; first_seq: number }>`
        WITH revived AS (
          SELECT * FROM unnest(
            ${dead.rows.map((row) => row.phase)}::smallint[], ${dead.rows.map((row) => row.seq)}::bigint[], ${dead.rows.map((row) => row.subject)}::text[]
          ) AS r(phase, seq, subject)
        ), counts AS (
          SELECT DISTINCT ON (subject) subject, count(*) OVER (PARTITION BY subject)::int AS added, phase AS first_phase, seq AS first_seq
          FROM revived WHERE phase = 1 ORDER BY subject, phase, seq
        ), grouped AS (
          INSERT INTO delivery_groups (subscription_id, subject, pending)
          SELECT ${subscriptionId}, subject, added FROM counts ORDER BY subject
          ON CONFLICT (subscription_id, subject) DO UPDATE SET pending = delivery_groups.pending + EXCLUDED.pending
          RETURNING subject, pending
        )
        SELECT c.subject, g.pending, c.added, c.first_phase, c.first_seq FROM counts c JOIN grouped g USING (subject)
      `.execute(trx);
      const heads = groups.rows.filter((group) => group.pending === group.added);
      await sql`
        UPDATE deliveries d SET state = 'pending', delivery_count = 0, available_at = now(), finished_at = NULL, dead_reason = NULL,
          is_head = d.phase = 0 OR (d.phase, d.seq) IN (
            SELECT * FROM unnest(${heads.map((head) => head.first_phase)}::smallint[], ${heads.map((head) => head.first_seq)}::bigint[])
          )
        FROM (${keyTable(dead.rows.map(keyOf))}) i
        WHERE d.subscription_id = ${subscriptionId} AND ${amongKeys(dead.rows)} AND d.phase = i.phase AND d.seq = i.seq
      `.execute(trx);
      return dead.rows.length;
    });
  }

  /**
   * A subject's group row stays after its last message is finished; these are deleted in the
   * background. Safe against a concurrent append: the delete re-checks `pending = 0` under the
   * row lock, and an append after the delete simply inserts the row again.
   */
  async sweep(limit: number): Promise<number> {
    const result = await sql`
      DELETE FROM delivery_groups g
      WHERE (g.subscription_id, g.subject) IN (
        SELECT subscription_id, subject FROM delivery_groups WHERE pending = 0 LIMIT ${limit} FOR UPDATE SKIP LOCKED
      ) AND g.pending = 0
    `.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }

  async stats(target: LeaseTarget): Promise<LedgerStats> {
    // Prefill rows only count once the snapshot committed; before, the walk would only meet invisible rows.
    const result = await sql<{ pending: number; dead: number; acked: number }>`
      SELECT
        ${pendingOf(sql`${target.id}::uuid`, sql`${target.liveFromSeq}::bigint IS NOT NULL`)} AS pending,
        (SELECT count(*) FROM deliveries d WHERE d.subscription_id = ${target.id} AND d.state = 'dead')::int AS dead,
        COALESCE((SELECT sum(acked) FROM subscription_stats WHERE subscription_id = ${target.id}), 0)::bigint AS acked
    `.execute(this.db);
    const row = result.rows[0]!;
    return { pending: row.pending, acked: row.acked, deadLettered: row.dead };
  }

  async pendingBySubscription(): Promise<Map<string, number>> {
    const result = await sql<{ name: string; pending: number }>`
      SELECT s.name, ${pendingOf(sql.ref("s.id"), sql`true`)} AS pending FROM subscriptions s
    `.execute(this.db);
    return new Map(result.rows.map((row) => [row.name, row.pending]));
  }
}

/**
 * Messages waiting or in flight for a subscription: live ones are counted per subject group,
 * prefill ones (one per certificate, each its own head) one by one, when `withPrefill` holds.
 */
function pendingOf(subscriptionId: RawBuilder<unknown>, withPrefill: RawBuilder<unknown>) {
  return sql<number>`(
    COALESCE((SELECT sum(g.pending) FROM delivery_groups g WHERE g.subscription_id = ${subscriptionId}), 0)
    + CASE WHEN ${withPrefill} THEN
        (SELECT count(*) FROM deliveries p WHERE p.subscription_id = ${subscriptionId} AND p.phase = 0 AND p.state = 'pending' AND p.is_head)
      ELSE 0 END
  )::int`;
}

/**
 * Live messages go out once the subscription's prefill (if any) is complete and every prefill
 * message is finished: all prefill messages come before any live one, across redeliveries too.
 * Prefill messages are one per certificate, each its own head, and take no part in subject groups.
 */
function liveAllowed(target: LeaseTarget) {
  return sql`(${target.liveFromSeq}::bigint IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM deliveries p WHERE p.subscription_id = ${target.id} AND p.phase = 0 AND p.state = 'pending' AND p.is_head
  ))`;
}

/**
 * A delivery's notification as JSON text: a live one as journaled (`n`), a prefill one made from
 * the copied state and its snapshot (`ps`), with an id derived from subscription and position,
 * so every redelivery carries the same one.
 */
function messageJson(alias: string) {
  const row = (column: string) => sql.ref(`${alias}.${column}`);
  const snapshotId = sql`overlay(overlay(md5(${row("subscription_id")}::text || '/' || ${row("seq")}) placing '4' from 13) placing '8' from 17)::uuid`;
  return sql<string>`CASE WHEN ${row("phase")} = 1 THEN n.envelope::text ELSE json_build_object(
    'id', ${snapshotId}, 'type', 'certificate.snapshot',
    'source', json_build_object('name', 'certflow', 'version', ps.source_version),
    'time', to_char(ps.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'subject', ${row("subject")}, 'parentId', NULL, 'correlationId', ${snapshotId},
    'channel', 'prefill', 'data', ${row("payload")})::text END`;
}

/** Only the current lease of a message settles it: a redelivery has raised its count since. */
const LEASE_HELD = sql`d.delivery_count = i.delivery_count`;

async function promoteHeads(trx: Executor, subscriptionId: string, subjects: string[]): Promise<void> {
  await sql`
    UPDATE deliveries d SET is_head = true
    FROM (
      SELECT DISTINCT ON (e.subject) e.phase, e.seq FROM deliveries e
      WHERE e.subscription_id = ${subscriptionId} AND e.subject = ANY(${subjects}::text[]) AND e.state = 'pending' AND e.phase = 1
      ORDER BY e.subject, e.seq
    ) h
    WHERE d.subscription_id = ${subscriptionId} AND d.phase = h.phase AND d.seq = h.seq
  `.execute(trx);
}

/**
 * The batch as one JSON document, each envelope spliced in as it was received: cheaper to send
 * and to read than nine parallel arrays, whose every element would be quoted and escaped.
 */
function journalRows(entries: readonly JournalEntry[]): string {
  const rows = entries.map(
    (entry) =>
      `{"seq":${entry.seq},"id":${JSON.stringify(entry.id)},"type":${JSON.stringify(entry.type)},` +
      `"subject":${JSON.stringify(entry.subject)},"source_name":${JSON.stringify(entry.sourceName)},` +
      `"parent_id":${JSON.stringify(entry.parentId)},"correlation_id":${JSON.stringify(entry.correlationId)},` +
      `"time":${JSON.stringify(entry.time)},"envelope":${entry.json}}`,
  );
  return `[${rows.join(",")}]`;
}

/**
 * The same keys as plain index conditions. Redundant with the join on the key table, but it
 * keeps the look-up an index probe whichever way the planner orders the join: on a table it has
 * no statistics for yet (a new deployment, a test), it takes the deliveries as the outer side.
 */
function amongKeys(keys: ReadonlyArray<{ phase: number; seq: number }>) {
  const phases = [...new Set(keys.map((key) => key.phase))];
  return sql`d.phase = ANY(${phases}::smallint[]) AND d.seq = ANY(${keys.map((key) => key.seq)}::bigint[])`;
}

function keyTable(keys: Key[]) {
  return sql`SELECT * FROM unnest(
    ${keys.map((key) => key.phase)}::smallint[],
    ${keys.map((key) => key.seq)}::bigint[],
    ${keys.map((key) => key.deliveryCount)}::int[]
  ) AS t(phase, seq, delivery_count)`;
}

const toKey = (ackId: AckId): Key => ({ phase: phaseCode(ackId.phase), seq: ackId.seq, deliveryCount: ackId.deliveryCount });
const keyOf = (row: KeyRow): Key => ({ phase: row.phase, seq: row.seq, deliveryCount: 0 });
const keyString = (row: KeyRow) => `${row.phase}:${row.seq}`;
