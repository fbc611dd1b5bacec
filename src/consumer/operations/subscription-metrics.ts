import type { Gauge } from "prom-client";
import type { Executor } from "../../core/db/schema.js";
import type { Metrics } from "../../core/metrics.js";
import type { DeliveryLedger, DeliveryTelemetry, QueuePosition } from "../../mom/ledger/ledger.js";

interface Row {
  name: string;
  position: QueuePosition;
  telemetry: DeliveryTelemetry | undefined;
  acked: number;
  slo: { breached: boolean; breaches: number } | undefined;
}

/** One reading of every subscription is shared by the gauges of one scrape. */
const SNAPSHOT_MS = 1000;

/**
 * Per-subscription lag and SLO gauges for `/metrics`: in flight, oldest pending age, delivered
 * and acked totals, accept-to-ack latency quantiles and attempts per message over the recent
 * window, and the SLO's breach state and count.
 */
export function registerSubscriptionMetrics(
  metrics: Metrics,
  db: Executor,
  ledger: DeliveryLedger,
  settings: { windowSeconds: number; pushLeaseSeconds: number },
): void {
  let snapshot: { at: number; rows: Promise<Row[]> } | undefined;
  const read = () => {
    if (!snapshot || Date.now() - snapshot.at > SNAPSHOT_MS) snapshot = { at: Date.now(), rows: readAll(db, ledger, settings) };
    return snapshot.rows;
  };
  const gauge = (name: string, help: string, value: (row: Row) => number | null | undefined) =>
    metrics.gauge(name, help, ["subscription"], async (target: Gauge) => {
      const rows = await read();
      target.reset();
      for (const row of rows) {
        const measured = value(row);
        if (measured !== null && measured !== undefined) target.set({ subscription: row.name }, measured);
      }
    });
  gauge("certflow_subscription_in_flight", "Messages handed out and not yet settled, per subscription", (row) => row.position.inFlight);
  gauge("certflow_subscription_oldest_pending_age_seconds", "Age of the oldest unfinished live message, per subscription", (row) => row.position.oldestPendingAgeSeconds);
  gauge("certflow_subscription_delivered", "Messages handed out since the subscription began, redeliveries included", (row) => row.telemetry?.deliveredTotal);
  gauge("certflow_subscription_acked", "Messages acknowledged since the subscription began", (row) => row.acked);
  gauge("certflow_subscription_attempts_per_message", "Deliveries per message acked in the recent window", (row) => row.telemetry?.attemptsPerMessage);
  gauge("certflow_subscription_slo_breached", "1 while the subscription's lag SLO is breached", (row) => (row.slo ? Number(row.slo.breached) : undefined));
  gauge("certflow_subscription_slo_breaches", "Lag SLO breaches so far", (row) => row.slo?.breaches);
  metrics.gauge(
    "certflow_subscription_ack_latency_seconds",
    "Accept-to-ack latency of live messages acked in the recent window, by quantile",
    ["subscription", "quantile"],
    async (target: Gauge) => {
      const rows = await read();
      target.reset();
      for (const row of rows) {
        const latency = row.telemetry?.ackLatencySeconds;
        if (!latency) continue;
        for (const [quantile, value] of [["0.5", latency.p50], ["0.95", latency.p95], ["0.99", latency.p99]] as const) {
          if (value !== null) target.set({ subscription: row.name, quantile }, value);
        }
      }
    },
  );
}

async function readAll(db: Executor, ledger: DeliveryLedger, settings: { windowSeconds: number; pushLeaseSeconds: number }): Promise<Row[]> {
  const subscriptions = await db
    .selectFrom("subscriptions as s")
    .leftJoin("subscription_lag as l", "l.subscription_id", "s.id")
    .select(["s.id", "s.name", "s.start_seq", "s.delivery", "s.ack_timeout_seconds", "s.slo_max_lag_seconds", "l.lagging_since", "l.breaches"])
    .orderBy("s.name")
    .execute();
  const telemetry = await ledger.telemetry(settings.windowSeconds);
  const acked = await db
    .selectFrom("subscription_stats")
    .select(["subscription_id", (eb) => eb.fn.sum<number>("acked").as("acked")])
    .groupBy("subscription_id")
    .execute();
  const ackedById = new Map(acked.map((row) => [row.subscription_id, Number(row.acked)]));
  const rows: Row[] = [];
  for (const subscription of subscriptions) {
    const push = (subscription.delivery as { mode: string }).mode === "push";
    const lease = push ? settings.pushLeaseSeconds : subscription.ack_timeout_seconds;
    rows.push({
      name: subscription.name,
      position: await ledger.queuePosition(subscription.id, lease, subscription.start_seq),
      telemetry: telemetry.get(subscription.id),
      acked: ackedById.get(subscription.id) ?? 0,
      slo:
        subscription.slo_max_lag_seconds === null
          ? undefined
          : { breached: subscription.lagging_since !== null, breaches: subscription.breaches ?? 0 },
    });
  }
  return rows;
}
