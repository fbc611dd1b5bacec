import { PostgresRetentionHorizons } from "../mom/retention/postgres-retention.js";
import type { ServiceDeps } from "../mom/service.js";
import { OutboxRelay } from "./book/outbox.js";
import { CommandLog } from "./commands/command-log.js";
import { Commands } from "./commands/commands.js";
import { registryMetrics } from "./commands/metrics.js";
import { CommandOutcomes } from "./commands/outcomes.js";
import { Reconciler } from "./commands/reconciler.js";
import { PostgresTradeStore } from "./trades/trade-store.js";
import { TradeSaga } from "./trades/saga.js";

/**
 * The pieces of the command flow both the certificates service and the connector need, built
 * the same way in each: the command log, the outcomes (with the trade saga moving on every
 * finished transfer), the commands use cases and reconciliation.
 */
export function commandParts(deps: ServiceDeps, component: string) {
  const logger = deps.logger.child({ component });
  const relay = new OutboxRelay(deps.db, deps.broker, logger);
  const log = new CommandLog(deps.db, deps.version);
  const metrics = registryMetrics(deps.metrics);
  const outcomes = new CommandOutcomes(deps.db, log, relay, metrics, logger, deps.version);
  const commands = new Commands(log, deps.broker, relay, new PostgresRetentionHorizons(deps.db));
  const saga = new TradeSaga(new PostgresTradeStore(deps.db), log, commands);
  outcomes.onFinished((trx, command, outcome) => saga.onCommandFinished(trx, command, outcome));
  const reconciler = new Reconciler(deps.db, log, deps.certificateRegistry, outcomes, relay, metrics, logger, deps.version);
  return { logger, relay, log, metrics, outcomes, commands, saga, reconciler };
}
