import { sql } from "kysely";
import type { Executor } from "../../../core/db/schema.js";
import { LIVE } from "./sql.js";

export interface DeliveryTelemetry {
  /** Messages handed out (pull and push), redeliveries included. */
  deliveredTotal: number;
  /** Accept-to-ack latency over the recent window, in seconds; null without an ack in it. */
  ackLatencySeconds: { p50: number | null; p95: number | null; p99: number | null };
  /** Deliveries per acked message over the recent window; null without an ack in it. */
  attemptsPerMessage: number | null;
  /** Acks the percentiles are taken over. */
  windowAcked: number;
}

/**
 * Acks the latency quantiles and attempts are taken over at most: the newest in the window. A
 * busy subscription acks hundreds of thousands in five minutes; reading them all made every
 * stats read and metrics scrape cost more the faster the subscriber worked.
 */
export const TELEMETRY_SAMPLE = 1000;

/**
 * Delivery telemetry of one subscription, or of all (by id). Latencies run from the journal's
 * `accepted_at` to the delivery's `finished_at`, over the newest `TELEMETRY_SAMPLE` live messages
 * acked in the last `windowSeconds`.
 */
export async function deliveryTelemetry(db: Executor, windowSeconds: number, subscriptionId?: string): Promise<Map<string, DeliveryTelemetry>> {
  const only = subscriptionId === undefined ? sql`true` : sql`s.id = ${subscriptionId}`;
  const result = await sql<{
    id: string;
    delivered: number;
    p50: number | null;
    p95: number | null;
    p99: number | null;
    attempts: number | null;
    acked: number;
  }>`
    SELECT s.id,
      COALESCE((SELECT sum(st.delivered) FROM subscription_stats st WHERE st.subscription_id = s.id), 0)::float8 AS delivered,
      w.p[1] AS p50, w.p[2] AS p95, w.p[3] AS p99, w.attempts, w.acked
    FROM subscriptions s
    CROSS JOIN LATERAL (
      SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM r.finished_at - n.accepted_at)::float8) AS p,
        avg(r.delivery_count - r.replay_base)::float8 AS attempts, count(*)::int AS acked
      FROM (
        SELECT d.seq, d.finished_at, d.delivery_count, d.replay_base FROM deliveries d
        WHERE d.subscription_id = s.id AND d.state = 'acked' AND d.phase = ${LIVE}
          AND d.finished_at > now() - make_interval(secs => ${windowSeconds})
        ORDER BY d.finished_at DESC
        LIMIT ${TELEMETRY_SAMPLE}
      ) r JOIN notifications n ON n.seq = r.seq
    ) w
    WHERE ${only}
  `.execute(db);
  return new Map(
    result.rows.map((row) => [
      row.id,
      {
        deliveredTotal: Number(row.delivered),
        ackLatencySeconds: { p50: row.p50, p95: row.p95, p99: row.p99 },
        attemptsPerMessage: row.attempts,
        windowAcked: row.acked,
      },
    ]),
  );
}
