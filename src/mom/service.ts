import type { CredentialResolver } from "../core/auth/credentials.js";
import type { Config, ServiceName } from "../core/config.js";
import type { Executor } from "../core/db/schema.js";
import type { App } from "../core/http/env.js";
import type { Logger } from "../core/logger.js";
import type { IngestActivity } from "../core/notifications/ingest-activity.js";
import type { Metrics } from "../core/metrics.js";
import type { Tracing } from "../core/tracing.js";
import type { CertificateRegistry } from "../core/registry/port.js";
import type { Broker } from "./broker.js";
import type { WorkCoordinator } from "./cluster/coordinator.js";

/** What every service is built from; `src/main.ts` makes one set per process. */
export interface ServiceDeps {
  config: Config;
  logger: Logger;
  db: Executor;
  broker: Broker;
  metrics: Metrics;
  credentials: CredentialResolver;
  /** Span export (OTLP), or nothing when not configured. */
  tracing: Tracing;
  /** Spreads background work over the live processes through leases. */
  work: WorkCoordinator;
  /** The running certflow version, e.g. for the source of messages it makes itself. */
  version: string;
  /** The external certificate registry (one adapter per process: HTTP, or the embedded one). */
  certificateRegistry: CertificateRegistry;
  /** Whether this process's producer is accepting notifications: background work in the process gives way to it. */
  ingest: IngestActivity;
}

export interface Service {
  name: ServiceName;
  /** Routes this service serves, mounted on the process's one HTTP server. */
  router?: App;
  /** Background work (stream readers, workers), started once the HTTP server listens. */
  start?(): Promise<void>;
  /** Stops background work; in-flight HTTP requests are finished by the server first. */
  stop?(): Promise<void>;
}
