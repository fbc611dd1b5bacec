import { ConfigError } from "../core/config.js";

/** Flag -> environment variable; every emulator knob, plus the ports and the wire token. */
export const FLAGS: Record<string, string> = {
  port: "CERTFLOW_EMULATOR_PORT",
  "control-port": "CERTFLOW_EMULATOR_CONTROL_PORT",
  host: "HOST",
  token: "CERTFLOW_REGISTRY_TOKEN",
  "accept-latency-ms": "CERTFLOW_EMULATOR_ACCEPT_LATENCY_MS",
  "commit-latency-ms": "CERTFLOW_EMULATOR_COMMIT_LATENCY_MS",
  "finalize-interval-ms": "CERTFLOW_EMULATOR_FINALIZE_INTERVAL_MS",
  unavailable: "CERTFLOW_EMULATOR_UNAVAILABLE",
  "drop-request-rate": "CERTFLOW_EMULATOR_DROP_REQUEST_RATE",
  "drop-response-rate": "CERTFLOW_EMULATOR_DROP_RESPONSE_RATE",
  "delay-request-ms": "CERTFLOW_EMULATOR_DELAY_REQUEST_MS",
  "stuck-pending": "CERTFLOW_EMULATOR_STUCK_PENDING",
  "failed-status-ttl-ms": "CERTFLOW_EMULATOR_FAILED_STATUS_TTL_MS",
  dedupe: "CERTFLOW_EMULATOR_DEDUPE",
  "stream-reads": "CERTFLOW_EMULATOR_STREAM_READS",
  seed: "CERTFLOW_EMULATOR_SEED",
  "log-level": "LOG_LEVEL",
};
const BOOLEAN_FLAGS = new Set(["stuck-pending", "stream-reads"]);

export function flagsToEnv(args: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (let index = 0; index < args.length; index++) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(args[index]!);
    const variable = match && FLAGS[match[1]!];
    if (!match || !variable) throw new ConfigError(`Unknown argument ${args[index]}; run with --help for the flags`);
    const name = match[1]!;
    let value = match[2];
    if (value === undefined) {
      const next = args[index + 1];
      if (BOOLEAN_FLAGS.has(name) && (next === undefined || next.startsWith("--"))) value = "true";
      else if (next === undefined) throw new ConfigError(`--${name} needs a value`);
      else value = args[++index]!;
    }
    env[variable] = value;
  }
  return env;
}

