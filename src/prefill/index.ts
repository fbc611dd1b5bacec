import type { StreamReader } from "../mom/broker.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { PostgresDeliveryLedger } from "../mom/ledger/postgres-ledger.js";
import { checkStreamEpoch } from "../mom/stream-epoch.js";
import { PostgresSubscriptionLookup } from "./prefills/subscription-lookup.js";
import { prefillsRouter } from "./prefills/router.js";
import { PROJECTION_READER, Projection } from "./projection.js";
import { PostgresCertificateStateStore } from "./read-model/certificate-states.js";
import { PostgresPrefillQueue } from "./snapshots/prefill-queue.js";
import { PrefillWorker } from "./snapshots/prefill-worker.js";
import { PostgresSnapshotWriter } from "./snapshots/snapshot-writer.js";

const PROJECTION_BATCH = 1000;
const POLL_MS = 1000;

/** The read model (a projection of every notification) and the prefill worker that snapshots it. */
export function setupPrefill(deps: ServiceDeps): Service {
  const logger = deps.logger.child({ service: "prefill" });
  const states = new PostgresCertificateStateStore(deps.db);
  const projection = new Projection(states, logger, deps.ingest);
  const queue = new PostgresPrefillQueue(deps.db);
  const ledger = new PostgresDeliveryLedger(deps.db);
  const worker = new PrefillWorker(
    queue,
    new PostgresSnapshotWriter(deps.db, ledger, PROJECTION_READER, deps.config.prefill.pageSize, deps.version),
    () => states.position(PROJECTION_READER),
    () => ledger.journaledThrough(),
    deps.broker,
    logger,
    { ...deps.config.prefill, pollMs: POLL_MS },
  );
  let reader: StreamReader | undefined;

  return {
    name: "prefill",
    router: prefillsRouter(new PostgresSubscriptionLookup(deps.db), queue, deps.broker),
    async start() {
      await checkStreamEpoch(deps.db, deps.broker);
      // One projection across the prefill processes, through its lease; prefills are claimed job by job.
      deps.work.share({
        group: "projection",
        service: "prefill",
        units: () => [PROJECTION_READER],
        async start(lease) {
          const fromSeq = (await states.position(PROJECTION_READER)) + 1;
          reader = deps.broker.read({
            name: PROJECTION_READER,
            fromSeq,
            maxBatch: PROJECTION_BATCH,
            handle: (batch) => projection.handle(batch, lease),
          });
          logger.info({ fromSeq, epoch: lease.epoch }, "projection started");
        },
        async stop() {
          const running = reader;
          reader = undefined;
          await running?.stop();
        },
      });
      worker.start();
      logger.info("prefill worker started");
    },
    async stop() {
      await worker.stop();
      await reader?.stop();
    },
  };
}
