import { sharePeriodic } from "../../mom/cluster/coordinator.js";
import { PostgresRetentionHorizons } from "../../mom/retention/postgres-retention.js";
import { Retention } from "../../mom/retention/retention.js";
import type { Service, ServiceDeps } from "../../mom/service.js";
import { shareOutboxSweep } from "../book/outbox.js";
import { COMMAND_STATES } from "../commands/command-log.js";
import { commandRetentionRule } from "../commands/retention.js";
import { commandParts } from "../parts.js";
import { Connector } from "./connector.js";

/** The one lease the connector works under, across every process that runs the service. */
export const CONNECTOR_LEASE = "registry-connector";

/**
 * The registry connector: consumes accepted commands (woken by the broker, and on a timer so
 * nothing waits for a lost hint), sends them to the registry, asks their status, and hands the
 * outcome to the domain; reconciles on a schedule. One live process does this at a time, under
 * the connector lease; the command log's state transitions (one command in flight per
 * certificate, each move only from the state it expects) keep a stale owner harmless.
 */
export function setupConnector(deps: ServiceDeps): Service {
  const parts = commandParts(deps, "connector");
  const { registry } = deps.config;
  const newConnector = () =>
    new Connector(parts.log, deps.certificateRegistry, parts.outcomes, parts.metrics, parts.logger, {
      batch: registry.batch,
      concurrency: registry.concurrency,
      pollMs: registry.pollMs,
      pollMaxMs: registry.pollMaxMs,
      retryMs: registry.retryMs,
      deadlineSeconds: registry.deadlineSeconds,
      unknownGraceMs: registry.unknownGraceMs,
    });
  let connector: Connector | undefined;

  const retention = new Retention(
    [commandRetentionRule(deps.db, deps.config.retention.commandsSeconds)],
    new PostgresRetentionHorizons(deps.db),
    { batch: deps.config.retention.batch },
    parts.logger,
  );

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
      shareOutboxSweep(deps.work, parts.relay, "connector", parts.logger);
      deps.work.share({
        group: "connector",
        service: "connector",
        units: () => [CONNECTOR_LEASE],
        async start(lease) {
          // A fresh connector per lease: it first treats what a previous owner left in `sending` as sent.
          connector = newConnector();
          await connector.start((handler) => deps.broker.onCommandSendRequested(handler));
          parts.logger.info({ registry: deps.certificateRegistry.description, epoch: lease.epoch }, "registry connector started");
        },
        async stop() {
          const running = connector;
          connector = undefined;
          await running?.stop();
        },
      });
      sharePeriodic(
        deps.work,
        { name: "registry-reconciler", service: "connector", intervalMs: registry.reconcileIntervalSeconds * 1000, run: async () => void (await parts.reconciler.run()) },
        parts.logger,
      );
      sharePeriodic(
        deps.work,
        { name: "command-retention", service: "connector", intervalMs: deps.config.retention.intervalSeconds * 1000, run: async (_lease, signal) => void (await retention.pass(signal)) },
        parts.logger,
      );
    },
    async stop() {
      await connector?.stop();
      await parts.relay.stop();
    },
  };
}
