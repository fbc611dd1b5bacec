import { ConfigError, loadConfig } from "./core/config.js";
import { createLogger } from "./core/logger.js";
import { startSystem, type RunningSystem } from "./system.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // Every background loop handles its own failures; should one slip through, it is logged
  // rather than taking down the requests and workers that are fine.
  process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled rejection; this is a bug"));
  let system;
  try {
    system = await startSystem(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, `could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  printWelcome(system.report, config.http.host, system.port);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "signal received");
    system.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/** The first lines a person reads: where everything is and what start-up made. On stderr, so stdout stays JSON logs. */
function printWelcome(report: RunningSystem["report"], host: string, port: number): void {
  const base = `http://${host === "0.0.0.0" || host === "::" ? "localhost" : host}:${port}`;
  const db = report.database;
  const migrations = db.migrationsApplied.length > 0 ? `${db.migrationsApplied.length} migrations applied now` : "tables up to date";
  process.stderr.write(
    [
      `certflow ${report.version} is running: ${report.services.join(", ")}`,
      `  API        ${base}/v1   (bearer tokens; the admin token is CERTFLOW_ADMIN_TOKEN)`,
      `  docs       ${base}/docs   (OpenAPI document: ${base}/openapi.json)`,
      `  dashboard  ${base}/ui`,
      `  database   ${db.url}, schema ${db.schema}: ${db.created ? "created now" : "existing"}, ${migrations}`,
      `  stream     ${report.stream.name}: ${report.stream.created ? "created now" : `existing, ${report.stream.messages} messages`}`,
      `  CLI        CERTFLOW_URL=${base} CERTFLOW_TOKEN=... npx certflow --help`,
      "",
    ].join("\n"),
  );
}

void main();
