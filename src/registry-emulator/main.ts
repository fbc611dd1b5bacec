/**
 * `npm run registry`: the registry emulator alone, on its own port (default 8090), with no
 * PostgreSQL or NATS. Knobs come from the environment (CERTFLOW_EMULATOR_*) or from flags of the
 * same names (`--commit-latency-ms 20-60`, `--dedupe txId`, `--stuck-pending`); flags win.
 */
import { ConfigError, loadConfig } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { FLAGS, flagsToEnv } from "./flags.js";
import { emulatorServerOptions } from "./index.js";
import { startEmulatorServer } from "./server.js";

function usage(): string {
  return [
    "npm run registry -- [--flag value ...]   (CERTFLOW_ADMIN_TOKEN must be set: it guards /_emulator/*)",
    ...Object.entries(FLAGS).map(([flag, variable]) => `  --${flag.padEnd(22)} ${variable}`),
    "See the README, section \"Registry emulator\", for what each knob does on the wire.",
  ].join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(usage());
    return;
  }
  let config;
  try {
    config = loadConfig({ ...process.env, ...flagsToEnv(args) });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let running;
  try {
    running = await startEmulatorServer(emulatorServerOptions(config, { logger }));
  } catch (error) {
    logger.fatal({ err: error }, `could not start the registry emulator: ${(error as Error).message}; choose another port with --port`);
    process.exit(1);
  }
  const stop = (signal: string) => {
    logger.info({ signal }, "signal received");
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

void main();
