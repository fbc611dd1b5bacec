import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { PREPARED_ROWS, preparedFor } from "../../../core/db/prepared.js";
import { phaseName, type LeaseResult, type LeaseTarget } from "../ledger.js";
import { finish } from "./settle.js";
import { ATTEMPTS_USED, LIVE, addToCounters, keyOf, liveAllowed, messageJson, messageSources, prefillAllowed, settleShard, type KeyRow } from "./sql.js";

/** Rounds of clearing dead or stale heads before a lease answers with what it has. */
const MAX_LEASE_ROUNDS = 10;

/**
 * Leases available heads in (phase, seq) order. Heads whose last allowed delivery timed out
 * are dead-lettered instead, and live heads the prefill snapshot already covers are skipped;
 * both free the next message of their subject, so the lease looks again.
 */
export async function lease(db: Executor, target: LeaseTarget, max: number): Promise<LeaseResult> {
  // A pull at a steady rate finds a few: those come from a kept plan; a backlog's bigger batch is planned for itself.
  const first = await leaseRounds(db, target, Math.min(max, PREPARED_ROWS));
  if (max <= PREPARED_ROWS || first.messages.length < PREPARED_ROWS) return first;
  const rest = await leaseRounds(db, target, max - PREPARED_ROWS);
  return { deadLettered: first.deadLettered + rest.deadLettered, messages: [...first.messages, ...rest.messages] };
}

async function leaseRounds(db: Executor, target: LeaseTarget, max: number): Promise<LeaseResult> {
  let deadLettered = 0;
  for (let round = 1; ; round++) {
    const rows = await leaseHeads(db, target, max);
    const messages = rows.filter((row) => row.disposition === "leased");
    const nextAt = rows.find((row) => row.disposition === "next")?.next_at ?? undefined;
    const exhausted = rows.filter((row) => row.disposition === "exhausted");
    const stale = rows.filter((row) => row.disposition === "stale");
    if (exhausted.length > 0) {
      const guard = sql`${ATTEMPTS_USED} >= ${target.maxDeliveries} AND d.available_at <= now()`;
      deadLettered += (await finish(db, target.id, exhausted.map(keyOf), { state: "dead", reason: "max_deliveries" }, guard)).length;
    }
    if (stale.length > 0) {
      await finish(db, target.id, stale.map(keyOf), { state: "skipped", reason: null }, sql`d.phase = ${LIVE} AND d.seq < ${target.liveFromSeq}`);
    }
    const cleared = exhausted.length > 0 || stale.length > 0;
    if (messages.length > 0 || !cleared || round >= MAX_LEASE_ROUNDS) {
      return {
        deadLettered,
        nextAvailableAt: messages.length === 0 ? nextAt : undefined,
        ...(messages.length === 0 && cleared ? { more: true } : {}),
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

async function leaseHeads(db: Executor, target: LeaseTarget, max: number) {
  const live = target.liveFromSeq;
  const result = await sql<
    KeyRow & { delivery_count: number; disposition: "leased" | "exhausted" | "stale" | "next"; envelope: string | null; next_at: Date | null }
  >`${preparedFor(max)}
    WITH candidates AS (
      SELECT d.phase, d.seq,
        CASE
          WHEN d.phase = ${LIVE} AND d.seq < ${live}::bigint THEN 'stale'
          WHEN ${ATTEMPTS_USED} >= ${target.maxDeliveries} THEN 'exhausted'
          ELSE 'leased'
        END AS disposition
      FROM deliveries d
      WHERE d.subscription_id = ${target.id} AND d.state = 'pending' AND d.is_head AND d.available_at <= now()
        AND (${prefillAllowed(target)} OR ${liveAllowed(target)})
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
    ), counted AS (
      INSERT INTO subscription_stats (subscription_id, shard, delivered)
      SELECT ${target.id}, ${settleShard()}, count(*) FROM leased HAVING count(*) > 0
      ${addToCounters("delivered")}
    )
    SELECT l.phase, l.seq, l.delivery_count, 'leased' AS disposition, ${messageJson("l")} AS envelope, NULL::timestamptz AS next_at
    FROM leased l
    ${messageSources("l", sql`${target.id}`)}
    UNION ALL
    SELECT c.phase, c.seq, 0, c.disposition, NULL, NULL FROM candidates c WHERE c.disposition <> 'leased'
    UNION ALL
    -- Only when nothing is available: when the next message comes out of its lease or delay
    -- (every head is leased or delayed then, so this walks those, never the backlog behind them).
    SELECT NULL, NULL, 0, 'next', NULL, (
      SELECT d.available_at FROM deliveries d
      WHERE d.subscription_id = ${target.id} AND d.state = 'pending' AND d.is_head
        AND (${prefillAllowed(target)} OR ${liveAllowed(target)})
      ORDER BY d.available_at
      LIMIT 1
    ) WHERE NOT EXISTS (SELECT 1 FROM candidates)
    ORDER BY 1, 2
  `.execute(db);
  return result.rows;
}
