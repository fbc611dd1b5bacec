import { createRouter } from "../core/http/app.js";
import { PostgresNotificationJournal } from "../mom/journal/postgres-journal.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { shareOutboxSweep } from "./book/outbox.js";
import { certificatesRouter } from "./book/router.js";
import { CertificateBook } from "./book/registry.js";
import { PostgresCertificateStore } from "./book/registry-store.js";
import { ConversionPool } from "./conversions/conversion-pool.js";
import { ConversionRunner } from "./conversions/conversion-runner.js";
import { PostgresConversionStore } from "./conversions/conversion-store.js";
import { Conversions } from "./conversions/conversions.js";
import { ConversionLeases } from "./conversions/leases.js";
import { conversionsRouter } from "./conversions/router.js";
import { PostgresStatisticsStore } from "./statistics/statistics.js";
import { statisticsRouter } from "./statistics/router.js";
import { tradesRouter } from "./trades/router.js";
import { PostgresTradeStore } from "./trades/trade-store.js";
import { Trades } from "./trades/trades.js";
import { commandsRouter } from "./commands/router.js";
import { commandParts } from "./parts.js";

/** The certificates domain: the book of certificates, conversions on the worker pool, trades, statistics. */
export function setupCertificates(deps: ServiceDeps): Service {
  const parts = commandParts(deps, "certificates");
  const { logger, relay } = parts;
  const certificates = new PostgresCertificateStore(deps.db);
  const book = new CertificateBook(certificates);

  const pool = new ConversionPool(deps.config.conversions);
  const conversionStore = new PostgresConversionStore(deps.db);
  const runner = new ConversionRunner(
    conversionStore,
    certificates,
    pool,
    { hours: parts.commands.issueHours, accepted: () => parts.commands.accepted() },
    new ConversionLeases(deps.db, logger),
    relay,
    logger,
    deps.version,
    { lanes: deps.config.conversions.workers, queue: deps.config.conversions.queue },
  );
  const conversions = new Conversions(conversionStore, certificates, pool, runner);
  const trades = new Trades(new PostgresTradeStore(deps.db), certificates, parts.log, parts.commands);

  deps.metrics.gauge("certflow_conversions", "Conversions by status", ["status"], async (gauge) => {
    const rows = await deps.db.selectFrom("conversions").select(["status", (eb) => eb.fn.countAll<number>().as("count")]).groupBy("status").execute();
    gauge.reset();
    for (const status of ["queued", "running", "persisted", "done", "failed"]) gauge.set({ status }, 0);
    for (const row of rows) gauge.set({ status: row.status }, Number(row.count));
  });
  deps.metrics.gauge("certflow_conversion_pool_queue", "Tasks waiting for a conversion worker thread", [], async (gauge) => {
    gauge.set(pool.queued);
  });

  const router = createRouter();
  router.route("/", certificatesRouter(new PostgresNotificationJournal(deps.db), book, parts.commands));
  router.route("/", commandsRouter(parts.commands, parts.outcomes, parts.reconciler));
  router.route("/", conversionsRouter(conversions));
  router.route("/", tradesRouter(trades));
  router.route("/", statisticsRouter(new PostgresStatisticsStore(deps.db)));
  return {
    name: "certificates",
    router,
    async start() {
      relay.start();
      shareOutboxSweep(deps.work, relay, "certificates", logger);
      runner.start();
      logger.info({ workers: pool.workers, queue: deps.config.conversions.queue }, "certificates service started");
    },
    async stop() {
      await runner.stop();
      await relay.stop();
    },
  };
}
