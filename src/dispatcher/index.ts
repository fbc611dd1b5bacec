import type { StreamReader } from "../mom/broker.js";
import { PostgresDeliveryLedger } from "../mom/ledger/postgres-ledger.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { checkStreamEpoch } from "../mom/stream-epoch.js";
import { Dispatcher } from "./dispatcher.js";
import { RoutingTable } from "./routing-table.js";
import { PostgresSubscriptionDirectory } from "./subscription-directory.js";

const MAX_BATCH = 500;

export const dispatcherReaderName = (partition: number) => `dispatcher.${partition}`;

/**
 * One ordered reader per partition: subjects keep their order, partitions run in parallel. The
 * partitions are spread over the dispatcher processes through leases (a partition's lease name
 * is its reader name); each batch's position write is refused once the lease has moved on.
 */
export function setupDispatcher(deps: ServiceDeps): Service {
  const ledger = new PostgresDeliveryLedger(deps.db);
  const logger = deps.logger.child({ service: "dispatcher" });
  const readers = new Map<string, StreamReader>();
  const partitionOf = new Map(Array.from({ length: deps.broker.partitions }, (_, partition) => [dispatcherReaderName(partition), partition]));
  // One dispatcher for the process's partitions: their batches that are ready together share an append.
  const dispatcher = new Dispatcher(new RoutingTable(new PostgresSubscriptionDirectory(deps.db)), ledger, deps.broker, deps.metrics, logger);

  return {
    name: "dispatcher",
    async start() {
      await checkStreamEpoch(deps.db, deps.broker);
      deps.work.share({
        group: "dispatcher",
        service: "dispatcher",
        units: () => [...partitionOf.keys()],
        async start(lease) {
          const name = lease.name;
          const fromSeq = (await ledger.position(name)) + 1;
          readers.set(
            name,
            deps.broker.read({
              name,
              partition: partitionOf.get(name)!,
              fromSeq,
              maxBatch: MAX_BATCH,
              handle: (batch) => dispatcher.dispatch(name, batch, lease),
            }),
          );
          logger.info({ partition: partitionOf.get(name), fromSeq, epoch: lease.epoch }, "dispatching partition");
        },
        async stop(name) {
          const reader = readers.get(name);
          readers.delete(name);
          await reader?.stop();
        },
      });
      logger.info({ partitions: deps.broker.partitions }, "dispatcher started");
    },
    async stop() {
      await Promise.all([...readers.values()].map((reader) => reader.stop()));
      readers.clear();
    },
  };
}
