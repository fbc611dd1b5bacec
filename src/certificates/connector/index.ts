import type { Service, ServiceDeps } from "../../mom/service.js";
import { COMMAND_STATES } from "../commands/command-log.js";
import { commandParts } from "../parts.js";
import { Connector } from "./connector.js";

/**
 * The registry connector: consumes accepted commands (woken by the broker, and on a timer so
 * nothing waits for a lost hint), sends them to the registry, asks their status, and hands the
 * outcome to the domain; reconciles on a schedule.
 */
export function setupConnector(deps: ServiceDeps): Service {
  const parts = commandParts(deps, "connector");
  const { registry } = deps.config;
  const connector = new Connector(parts.log, deps.certificateRegistry, parts.outcomes, parts.metrics, parts.logger, {
    batch: registry.batch,
    concurrency: registry.concurrency,
    pollMs: registry.pollMs,
    pollMaxMs: registry.pollMaxMs,
    retryMs: registry.retryMs,
    deadlineSeconds: registry.deadlineSeconds,
    unknownGraceMs: registry.unknownGraceMs,
  });

  deps.metrics.gauge("certflow_registry_commands", "Registry commands by state", ["state"], async (gauge) => {
    const counts = await parts.log.countByState();
    for (const state of COMMAND_STATES) gauge.set({ state }, counts[state]);
  });
  deps.metrics.gauge("certflow_registry_indeterminate_commands", "Commands whose registry outcome is unknown (their certificates stay locked)", [], async (gauge) => {
    gauge.set((await parts.log.countByState()).indeterminate);
  });

  return {
    name: "connector",
    async start() {
      parts.relay.start();
      await connector.start((handler) => deps.broker.onCommandSendRequested(handler));
      parts.reconciler.start(registry.reconcileIntervalSeconds * 1000);
      parts.logger.info({ registry: deps.certificateRegistry.description }, "registry connector started");
    },
    async stop() {
      await connector.stop();
      await parts.reconciler.stop();
      await parts.relay.stop();
    },
  };
}
