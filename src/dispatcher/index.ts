import type { StreamReader } from "../mom/broker.js";
import { PostgresDeliveryLedger } from "../mom/ledger/postgres-ledger.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { checkStreamEpoch } from "../mom/stream-epoch.js";
import { Dispatcher } from "./dispatcher.js";
import { RoutingTable } from "./routing-table.js";
import { PostgresSubscriptionDirectory } from "./subscription-directory.js";

const MAX_BATCH = 500;

export const dispatcherReaderName = (partition: number) => `dispatcher.${partition}`;

/** One ordered reader per partition: subjects keep their order, partitions run in parallel. */
export function setupDispatcher(deps: ServiceDeps): Service {
  const ledger = new PostgresDeliveryLedger(deps.db);
  const logger = deps.logger.child({ service: "dispatcher" });
  const readers: StreamReader[] = [];

  return {
    name: "dispatcher",
    async start() {
      await checkStreamEpoch(deps.db, deps.broker);
      for (let partition = 0; partition < deps.broker.partitions; partition++) {
        // Each partition has its own routing table: they refresh independently, no shared mutable state.
        const dispatcher = new Dispatcher(
          new RoutingTable(new PostgresSubscriptionDirectory(deps.db)),
          ledger,
          deps.broker,
          deps.metrics,
          logger,
        );
        const name = dispatcherReaderName(partition);
        const fromSeq = (await ledger.position(name)) + 1;
        readers.push(
          deps.broker.read({ name, partition, fromSeq, maxBatch: MAX_BATCH, handle: (batch) => dispatcher.dispatch(name, batch) }),
        );
      }
      logger.info({ partitions: deps.broker.partitions }, "dispatcher started");
    },
    async stop() {
      await Promise.all(readers.map((reader) => reader.stop()));
      readers.length = 0;
    },
  };
}
