import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { hostname } from "node:os";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { CredentialResolver, PostgresCredentialStore } from "./core/auth/credentials.js";
import type { Config, ServiceName } from "./core/config.js";
import { ensureDatabase, openDatabase, pingDatabase, type DatabaseHandle } from "./core/db/database.js";
import { migrateToLatest } from "./core/db/migrate.js";
import { createHttpApp } from "./core/http/app.js";
import { drainUnreadBodies } from "./core/http/unread-body.js";
import { mountOperations } from "./core/http/operations.js";
import type { Logger } from "./core/logger.js";
import { createMetrics } from "./core/metrics.js";
import { createTracing, type Tracing } from "./core/tracing.js";
import { setupConsumer } from "./consumer/index.js";
import { setupDispatcher } from "./dispatcher/index.js";
import { WorkCoordinator } from "./mom/cluster/coordinator.js";
import { PostgresWorkLeases } from "./mom/cluster/postgres-leases.js";
import { clusterRouter } from "./mom/cluster/router.js";
import { JetStreamBroker } from "./mom/jetstream-broker.js";
import type { Service, ServiceDeps } from "./mom/service.js";
import { setupPrefill } from "./prefill/index.js";
import { setupProducer } from "./producer/index.js";
import { setupCertificates } from "./certificates/index.js";
import { setupConnector } from "./certificates/connector/index.js";
import { EmbeddedRegistry } from "./certificates/registry/embedded-registry.js";
import { HttpRegistry } from "./certificates/registry/http-registry.js";
import type { CertificateRegistry } from "./core/registry/port.js";
import { IngestActivity } from "./core/notifications/ingest-activity.js";
import { setupRegistryEmulator } from "./registry-emulator/index.js";

const SETUP: Record<ServiceName, (deps: ServiceDeps) => Service> = {
  producer: setupProducer,
  dispatcher: setupDispatcher,
  consumer: setupConsumer,
  prefill: setupPrefill,
  certificates: setupCertificates,
  connector: setupConnector,
  "registry-emulator": setupRegistryEmulator,
};

export interface SystemOptions {
  /** Replaces the registry adapter the configuration names (a benchmark or test may hand in its own). */
  certificateRegistry?: CertificateRegistry;
}

/** The HTTP client of the registry named by CERTFLOW_REGISTRY_URL, else the in-process registry. */
export function certificateRegistryFor(config: Config, logger: Logger): CertificateRegistry {
  if (config.registry.url) {
    logger.info({ registry: config.registry.url }, "using the external certificate registry");
    return new HttpRegistry({ url: config.registry.url, token: config.registry.token, timeoutMs: config.registry.timeoutMs, maxSockets: config.registry.concurrency + 2 });
  }
  logger.info("using the embedded certificate registry (in this process, not shared): set CERTFLOW_REGISTRY_URL for an external one");
  return new EmbeddedRegistry();
}

export interface RunningSystem {
  /** Base URL of the HTTP server, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** What start-up found and what it created, for the first lines a person sees. */
  report: StartupReport;
  stop(): Promise<void>;
}

export interface StartupReport {
  version: string;
  services: ServiceName[];
  database: { url: string; schema: string; created: boolean; migrationsApplied: string[] };
  stream: { name: string; created: boolean; messages: number };
}

const VERSION: string = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;

/** Starts the configured services in this process; every process runs this same code, whatever its subset. */
export async function startSystem(config: Config, logger: Logger, options: SystemOptions = {}): Promise<RunningSystem> {
  const databaseState = await ensureDatabase(config.database).catch((error: unknown) => {
    throw new Error(
      `cannot reach PostgreSQL at ${withoutPassword(config.database.url)} (${(error as Error).message}); start PostgreSQL or set DATABASE_URL`,
    );
  });
  const database = openDatabase(config.database);
  let broker: JetStreamBroker | undefined;
  let migrationsApplied: string[];
  try {
    migrationsApplied = await migrateToLatest(database.db, config.database.schema, logger);
    broker = await JetStreamBroker.connect({
      nats: config.nats,
      logger,
      connectionName: `certflow[${config.services.join(",")}]`,
    });
  } catch (error) {
    await database.close();
    throw error;
  }

  const metrics = createMetrics();
  const credentials = new CredentialResolver(
    new PostgresCredentialStore(database.db),
    config.auth.adminToken,
    config.auth.cacheSeconds * 1000,
  );
  const usesRegistry = config.services.includes("certificates") || config.services.includes("connector");
  const certificateRegistry = options.certificateRegistry ?? (usesRegistry ? certificateRegistryFor(config, logger) : new EmbeddedRegistry());
  const tracing = createTracing(config.tracing, VERSION);
  const leases = new PostgresWorkLeases(database.db);
  const processId = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  const work = new WorkCoordinator(
    leases,
    { id: processId, services: config.services, host: hostname(), pid: process.pid },
    { leaseSeconds: config.cluster.leaseSeconds },
    logger.child({ component: "leases", process: processId }),
  );
  observeLeases(metrics, work);
  const ingest = new IngestActivity();
  const deps: ServiceDeps = { config, logger, db: database.db, broker, metrics, credentials, tracing, work, version: VERSION, certificateRegistry, ingest };
  const services = config.services.map((name) => SETUP[name](deps));

  const app = createHttpApp({ logger, metrics, credentials, maxBodyBytes: config.http.maxBodyBytes });
  mountOperations(app, {
    metrics,
    version: VERSION,
    readiness: { nats: () => broker!.ping(), postgres: () => pingDatabase(database.db), stream: () => broker!.clusterState() },
  });
  app.route("/", clusterRouter({ leases, leaseSeconds: config.cluster.leaseSeconds }));
  for (const service of services) if (service.router) app.route("/", service.router);

  const server = await listen(app.fetch, config.http.port, config.http.host);
  const port = (server.address() as AddressInfo).port;
  for (const service of services) await service.start?.();
  await work.start();
  const stream = await broker.stream();
  const report: StartupReport = {
    version: VERSION,
    services: config.services,
    database: { url: withoutPassword(config.database.url), schema: config.database.schema, created: databaseState.created, migrationsApplied },
    stream: { name: stream.name, created: broker.streamCreated, messages: Math.max(0, stream.lastSeq - stream.firstSeq + 1) },
  };
  logger.info({ port, services: config.services, version: VERSION, process: processId, startup: report }, "certflow started");

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    report,
    stop: () => shutdown({ server, work, services, broker: broker!, database, tracing, logger, timeoutMs: config.shutdownTimeoutSeconds * 1000 }),
  };
}

/** What this process owns, as metrics: the same picture GET /v1/cluster gives. */
function observeLeases(metrics: ReturnType<typeof createMetrics>, work: WorkCoordinator): void {
  metrics.gauge("certflow_leases_owned", "Units of background work this process holds a lease on", ["group"], async (gauge) => {
    gauge.reset();
    for (const unit of work.owned()) gauge.inc({ group: unit.group });
  });
  metrics.gauge("certflow_lease_owned_since_seconds", "When this process took each lease (unix time)", ["lease", "epoch"], async (gauge) => {
    gauge.reset();
    for (const unit of work.owned()) gauge.set({ lease: unit.name, epoch: String(unit.epoch) }, unit.since.getTime() / 1000);
  });
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}

function listen(fetch: (request: Request) => Response | Promise<Response>, port: number, hostname: string): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    // Unread bodies are drained by drainUnreadBodies, which keeps the connection usable, rather than on a short timer.
    const server = serve({ fetch, port, hostname, autoCleanupIncoming: false }, () => resolve(server));
    drainUnreadBodies(server as Server);
    server.once("error", reject);
  });
}

interface ShutdownParts {
  server: ServerType;
  work: WorkCoordinator;
  services: Service[];
  broker: JetStreamBroker;
  database: DatabaseHandle;
  logger: Logger;
  tracing: Tracing;
  timeoutMs: number;
}

/**
 * Stops taking requests, lets in-flight ones finish (long-polls are answered at once), stops
 * background work after its current batch, drains NATS, then closes the database pool.
 */
async function shutdown({ server, work, services, broker, database, tracing, logger, timeoutMs }: ShutdownParts): Promise<void> {
  logger.info("shutting down");
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Connections that fall idle after close() (a long-poll just answered) are kept alive by
  // clients; close them as they go idle instead of waiting for the keep-alive timeout.
  const closeIdle = () => ("closeIdleConnections" in server ? server.closeIdleConnections() : undefined);
  closeIdle();
  const idleSweeper = setInterval(closeIdle, 50);
  const orderly = (async () => {
    // Leased work first, its leases handed back, so the other processes take it over at once.
    await work.stop();
    await Promise.all(services.map((service) => service.stop?.()));
    await closed;
    await broker.close();
    await database.close();
    await tracing.shutdown().catch((error: unknown) => logger.warn({ err: error }, "could not export the last spans"));
  })();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const outcome = await Promise.race([orderly.then(() => "done" as const), deadline]);
  clearTimeout(timer);
  clearInterval(idleSweeper);
  if (outcome === "timeout") {
    logger.warn({ timeoutMs }, "shutdown timed out; closing connections");
    if ("closeAllConnections" in server) server.closeAllConnections();
    await Promise.allSettled([broker.close(), database.close()]);
  }
  logger.info("stopped");
}
