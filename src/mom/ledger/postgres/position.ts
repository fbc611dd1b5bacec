import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";

export interface QueuePosition {
  /** Every live message up to here is finished (acked, dead-lettered or skipped). */
  ackFloorSequence: number;
  /** The newest notification queued into this subscription; null before the first. */
  lastDispatchedSequence: number | null;
  /** Handed out and neither settled nor timed out. */
  inFlight: number;
  /** Age of the oldest live message not yet finished; 0 when none waits. */
  oldestPendingAgeSeconds: number;
}

/**
 * Where a subscription's queue stands. The oldest unfinished message of a subject is its head,
 * so the heads alone give the floor and the oldest age; the newest queued comes from the
 * counters. A lease sets `available_at` to its delivery time plus the lease, exactly; a nack or
 * a timeout moves it elsewhere, which is how a message in flight is told from one waiting for a
 * retry.
 */
export async function queuePosition(db: Executor, subscriptionId: string, leaseSeconds: number, startSeq: number): Promise<QueuePosition> {
  const result = await sql<{ first_pending: number | null; accepted_at: Date | null; last_dispatched: number | null; in_flight: number; age: number | null }>`
    WITH oldest AS (
      SELECT d.seq FROM deliveries d
      WHERE d.subscription_id = ${subscriptionId} AND d.phase = 1 AND d.state = 'pending' AND d.is_head
      ORDER BY d.seq LIMIT 1
    )
    SELECT
      (SELECT seq FROM oldest) AS first_pending,
      (SELECT extract(epoch FROM now() - n.accepted_at)::float8 FROM oldest o JOIN notifications n ON n.seq = o.seq) AS age,
      (SELECT max(c.last_queued_seq) FROM subscription_stats c WHERE c.subscription_id = ${subscriptionId}) AS last_dispatched,
      (SELECT count(*) FROM deliveries d
        WHERE d.subscription_id = ${subscriptionId} AND d.state = 'pending' AND d.is_head AND d.available_at > now()
          AND d.available_at = d.last_delivered_at + make_interval(secs => ${leaseSeconds}))::int AS in_flight
  `.execute(db);
  const row = result.rows[0]!;
  const floor = row.first_pending !== null ? row.first_pending - 1 : (row.last_dispatched ?? startSeq - 1);
  return {
    ackFloorSequence: floor,
    lastDispatchedSequence: row.last_dispatched,
    inFlight: row.in_flight,
    oldestPendingAgeSeconds: Math.max(0, row.age ?? 0),
  };
}
