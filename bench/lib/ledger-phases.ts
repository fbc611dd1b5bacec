import pg from "pg";
import { DATABASE_URL } from "./env.js";

export interface PhaseTimes {
  deliveries: number;
  /** Milliseconds, p50 / p99, per stage of a notification's way through certflow. */
  acceptToDispatch: { p50: number; p99: number };
  dispatchToLease: { p50: number; p99: number };
  leaseToAck: { p50: number; p99: number };
  /** Notifications journaled per dispatcher statement, and how many statements ran. */
  dispatchBatches: { count: number; meanSize: number };
}

/**
 * Where a notification's time goes inside certflow, read from its own ledger after a run:
 * `time` is stamped when the producer API builds the envelope, `accepted_at` is the dispatcher's
 * transaction start, `last_delivered_at` the lease, `finished_at` the ack. Same clock (one machine).
 */
export async function ledgerPhases(schema: string, sinceSubjectPrefix: string): Promise<PhaseTimes> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT count(*)::int AS deliveries,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM n.accepted_at - n.time) * 1000) AS a50,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM n.accepted_at - n.time) * 1000) AS a99,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.last_delivered_at - n.accepted_at) * 1000) AS l50,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.last_delivered_at - n.accepted_at) * 1000) AS l99,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.finished_at - d.last_delivered_at) * 1000) AS k50,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.finished_at - d.last_delivered_at) * 1000) AS k99
       FROM "${schema}".notifications n JOIN "${schema}".deliveries d ON d.phase = 1 AND d.seq = n.seq
       WHERE n.subject LIKE $1 AND d.state = 'acked'`,
      [`${sinceSubjectPrefix}%`],
    );
    const batches = await client.query(
      `SELECT count(*)::int AS count, avg(size)::float AS mean FROM (
         SELECT count(*) AS size FROM "${schema}".notifications WHERE subject LIKE $1 GROUP BY accepted_at
       ) b`,
      [`${sinceSubjectPrefix}%`],
    );
    const row = rows[0];
    const ms = (value: unknown) => Math.round(Number(value) * 10) / 10;
    return {
      deliveries: row.deliveries,
      acceptToDispatch: { p50: ms(row.a50), p99: ms(row.a99) },
      dispatchToLease: { p50: ms(row.l50), p99: ms(row.l99) },
      leaseToAck: { p50: ms(row.k50), p99: ms(row.k99) },
      dispatchBatches: { count: batches.rows[0].count, meanSize: ms(batches.rows[0].mean) },
    };
  } finally {
    await client.end();
  }
}

export function describePhases(phases: PhaseTimes): string {
  const pair = (value: { p50: number; p99: number }) => `p50 ${value.p50} ms / p99 ${value.p99} ms`;
  return (
    `accept->dispatch ${pair(phases.acceptToDispatch)}, dispatch->lease ${pair(phases.dispatchToLease)}, ` +
    `lease->ack ${pair(phases.leaseToAck)}; ${phases.dispatchBatches.count} dispatcher statements of ${phases.dispatchBatches.meanSize} notifications on average`
  );
}
