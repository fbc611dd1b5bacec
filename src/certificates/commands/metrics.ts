import { Counter, Gauge, Histogram } from "prom-client";
import type { Metrics } from "../../core/metrics.js";

const made = new WeakMap<Metrics, ReturnType<typeof makeRegistryMetrics>>();

/** The connector's own figures, made once per process (the certificates and connector services share them). */
export function registryMetrics(metrics: Metrics) {
  let found = made.get(metrics);
  if (!found) made.set(metrics, (found = makeRegistryMetrics(metrics)));
  return found;
}

function makeRegistryMetrics(metrics: Metrics) {
  const registers = [metrics.registry];
  return {
    sends: new Counter({
      name: "certflow_registry_send_total",
      help: "Sends to the registry by outcome (received, not_received, ambiguous, rejected), one per command",
      labelNames: ["outcome"] as const,
      registers,
    }),
    commitSeconds: new Histogram({
      name: "certflow_registry_commit_seconds",
      help: "From a command's acceptance to the book change after the registry committed it",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600],
      registers,
    }),
    misalignments: new Counter({ name: "certflow_registry_misalignments_total", help: "Differences found between the registry and the book", registers }),
    reachable: new Gauge({ name: "certflow_registry_reachable", help: "1 while the last call to the registry got an answer, 0 during an outage", registers }),
  };
}

export type RegistryMetrics = ReturnType<typeof makeRegistryMetrics>;
