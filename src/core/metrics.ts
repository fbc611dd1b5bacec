import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** One registry per process (not prom-client's global), so tests can run several systems side by side. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    notificationsAccepted: new Counter({
      name: "certflow_notifications_accepted_total",
      help: "Notifications accepted by the producer API (duplicates excluded)",
      labelNames: ["type"] as const,
      registers: [registry],
    }),
    notificationsDuplicate: new Counter({
      name: "certflow_notifications_duplicate_total",
      help: "Notifications posted again with an id already accepted",
      registers: [registry],
    }),
    notificationsDispatched: new Counter({
      name: "certflow_notifications_dispatched_total",
      help: "Deliveries created by the dispatcher (one per notification and matching subscription)",
      registers: [registry],
    }),
    messagesDelivered: new Counter({
      name: "certflow_messages_delivered_total",
      help: "Messages handed to subscribers, redeliveries included",
      labelNames: ["mode"] as const,
      registers: [registry],
    }),
    messagesAcked: new Counter({ name: "certflow_messages_acked_total", help: "Messages acknowledged", registers: [registry] }),
    messagesDeadLettered: new Counter({
      name: "certflow_messages_dead_lettered_total",
      help: "Messages moved to dead letters",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    pushAttempts: new Histogram({
      name: "certflow_push_attempt_duration_seconds",
      help: "Webhook attempts by outcome, with their latency",
      labelNames: ["outcome"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    longPollsWaiting: new Gauge({
      name: "certflow_long_polls_waiting",
      help: "Pulls parked in a long-poll, waiting for a message",
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "certflow_http_request_duration_seconds",
      help: "HTTP request latency",
      labelNames: ["method", "route", "status"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    /** Filled at scrape time by whichever service owns the numbers. */
    gauge(name: string, help: string, labelNames: string[], collect: (gauge: Gauge) => Promise<void>) {
      return new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect() {
          await collect(this);
        },
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
