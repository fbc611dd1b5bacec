import { ConfigError, loadConfig } from "./core/config.js";
import { createLogger } from "./core/logger.js";
import { startSystem } from "./system.js";

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

void main();
