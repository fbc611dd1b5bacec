import type { Config } from "../core/config.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { DEMO_FAULTS, FaultsSchema, type Faults } from "../core/registry/faults.js";
import { startEmulatorServer, type RunningEmulatorServer } from "./server.js";

/**
 * The registry emulator as a service (`SERVICES=registry-emulator`): an external registry of its own,
 * on its own port (CERTFLOW_EMULATOR_PORT), not on certflow's HTTP server, so its faults (refused
 * connections, resets) never touch certflow's API. It uses neither the database nor the broker.
 */
export function setupRegistryEmulator({ config, logger, metrics }: ServiceDeps): Service {
  let running: RunningEmulatorServer | undefined;
  return {
    name: "registry-emulator",
    async start() {
      running = await startEmulatorServer(emulatorServerOptions(config, { logger, metrics }));
    },
    async stop() {
      await running?.stop();
    },
  };
}

/** The emulator's server options from certflow's configuration: the demo faults, with the knobs set at start on top. */
export function emulatorServerOptions(config: Config, parts: Pick<Parameters<typeof startEmulatorServer>[0], "logger" | "metrics">) {
  const { port, controlPort, token } = config.registryEmulator;
  return {
    ...parts,
    port,
    host: config.http.host,
    ...(controlPort !== undefined ? { controlPort } : {}),
    ...(token !== undefined ? { token } : {}),
    adminToken: config.auth.adminToken,
    faults: startFaults(config),
    maxBodyBytes: config.http.maxBodyBytes,
  };
}

export function startFaults(config: Config): Faults {
  return FaultsSchema.parse({ ...DEMO_FAULTS, ...config.registryEmulator.faults });
}
