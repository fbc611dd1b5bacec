import { availableParallelism } from "node:os";
import { z } from "zod";

export const SERVICE_NAMES = ["producer", "dispatcher", "consumer", "prefill", "certificates", "connector", "registry-emulator"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];
/** What a process runs when SERVICES is unset; the registry emulator runs only when named. */
export const DEFAULT_SERVICES: readonly ServiceName[] = ["producer", "dispatcher", "consumer", "prefill", "certificates", "connector"];

const booleanFlag = z
  .enum(["true", "false", "1", "0", "yes", "no"], { error: "expected true or false" })
  .transform((value) => value === "true" || value === "1" || value === "yes");

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, { error: "expected an integer" })
    .transform(Number)
    .pipe(z.number().min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }));

/** Seconds to wait before each delivery attempt, e.g. "0,5,300": the first is the first attempt. */
const retrySchedule = z
  .string()
  .trim()
  .regex(/^\d+(\s*,\s*\d+)*$/, { error: "expected comma-separated seconds, e.g. 0,5,300" })
  .transform((value) => value.split(",").map((part) => Number(part.trim())))
  .refine((delays) => delays.length <= 50, { error: "at most 50 attempts" });

const DURATION_UNITS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** A period such as "30s", "15m", "12h" or "7d", in seconds. */
const duration = z
  .string()
  .trim()
  .regex(/^[1-9]\d{0,6}[smhd]$/, { error: "expected a period such as 30s, 15m, 12h or 7d" })
  .transform((value) => Number(value.slice(0, -1)) * DURATION_UNITS[value.slice(-1) as keyof typeof DURATION_UNITS]);

/** One or more servers, e.g. "nats://a:4222,nats://b:4222": the client fails over between them. */
const natsServers = z
  .string()
  .transform((value) => value.split(",").map((url) => url.trim()).filter(Boolean))
  .pipe(
    z
      .array(z.string().regex(/^(nats|tls|ws|wss):\/\/[^\s,]+$/, { error: "expected nats:// URLs, separated by commas" }))
      .min(1, { error: "name at least one nats:// URL" }),
  );

const servicesList = z
  .string()
  .transform((value) => value.split(",").map((name) => name.trim()).filter(Boolean))
  .pipe(
    z
      .array(z.enum(SERVICE_NAMES, { error: `expected a comma-separated list of ${SERVICE_NAMES.join(", ")}` }))
      .min(1, { error: "name at least one service" }),
  )
  .transform((names) => [...new Set(names)]);

const rate = z
  .string()
  .trim()
  .regex(/^(0(\.\d+)?|1(\.0+)?)$/, { error: "expected a rate between 0 and 1, e.g. 0.25" })
  .transform(Number);

/** "2000-6000" (a range) or "50" (both ends). */
const latencyRange = z
  .string()
  .trim()
  .regex(/^\d+(\s*-\s*\d+)?$/, { error: "expected milliseconds or a range, e.g. 2000-6000" })
  .transform((value) => {
    const [min, max = min] = value.split("-").map((part) => Number(part.trim()));
    return { min: min!, max: max! };
  })
  .refine((range) => range.min <= range.max, { error: "the range's minimum must not exceed its maximum" });

/** Environment variables, by the exact names an operator sets. */
const EnvSchema = z.object({
  PORT: integer(0, 65535).default(8080),
  HOST: z.string().min(1).default("0.0.0.0"),
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: "expected a postgres:// URL" })
    .default("postgres://postgres@127.0.0.1:5432/certflow"),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: "expected a lower-case SQL identifier" })
    .default("public"),
  DATABASE_POOL_SIZE: integer(2, 200).default(16),
  NATS_URL: natsServers.default(["nats://127.0.0.1:4222"]),
  CERTFLOW_STREAM_REPLICAS: z.enum(["1", "3"], { error: "expected 1 or 3" }).transform(Number).default(1),
  CERTFLOW_LEASE_SECONDS: integer(1, 300).default(10),
  CERTFLOW_RETENTION_DELIVERIES: duration.default(7 * 86_400),
  CERTFLOW_RETENTION_DEAD_LETTERS: duration.default(30 * 86_400),
  CERTFLOW_RETENTION_JOURNAL: duration.default(30 * 86_400),
  CERTFLOW_RETENTION_PUSH_ATTEMPTS: duration.default(30 * 86_400),
  CERTFLOW_RETENTION_PREFILL: duration.default(7 * 86_400),
  CERTFLOW_RETENTION_LEASE_HISTORY: duration.default(7 * 86_400),
  CERTFLOW_RETENTION_COMMANDS: duration.default(30 * 86_400),
  CERTFLOW_RETENTION_INTERVAL_SECONDS: integer(1, 86_400).default(60),
  CERTFLOW_RETENTION_BATCH: integer(10, 100_000).default(1000),
  CERTFLOW_ADMIN_TOKEN: z
    .string({ error: "is required: set it to a random secret of at least 16 characters" })
    .min(16, { error: "must be at least 16 characters" })
    .refine((token) => !/^cf[ps]_/.test(token), { error: "must not start with cfp_ or cfs_ (those prefixes mark producer and subscription tokens)" }),
  CERTFLOW_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, { error: "expected 1-40 letters, digits, '_' or '-'" })
    .default("certflow"),
  CERTFLOW_PUSH_ALLOW_PRIVATE: booleanFlag.default(false),
  SERVICES: servicesList.default([...DEFAULT_SERVICES]),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  CERTFLOW_PARTITIONS: integer(1, 256).default(8),
  CERTFLOW_DEDUP_WINDOW_SECONDS: integer(1, 86_400).default(600),
  CERTFLOW_STREAM_MAX_AGE_HOURS: integer(1, 24 * 365).default(24 * 7),
  CERTFLOW_ACK_TIMEOUT_SECONDS: integer(1, 43_200).default(30),
  CERTFLOW_MAX_DELIVERIES: integer(1, 1000).default(5),
  CERTFLOW_AUTH_CACHE_SECONDS: integer(0, 3600).default(5),
  CERTFLOW_MAX_BODY_BYTES: integer(1024, 512 * 1024 * 1024).default(16 * 1024 * 1024),
  CERTFLOW_SHUTDOWN_TIMEOUT_SECONDS: integer(1, 600).default(20),
  CERTFLOW_PREFILL_CONCURRENCY: integer(1, 64).default(4),
  CERTFLOW_PREFILL_PAGE_SIZE: integer(100, 100_000).default(5000),
  CERTFLOW_PREFILL_STALE_SECONDS: integer(1, 3600).default(30),
  CERTFLOW_PREFILL_CATCHUP_TIMEOUT_SECONDS: integer(1, 86_400).default(300),
  CERTFLOW_PUSH_RETRY_SCHEDULE: retrySchedule.default([0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]),
  CERTFLOW_PUSH_TIMEOUT_SECONDS: integer(1, 300).default(15),
  CERTFLOW_PUSH_CONCURRENCY: integer(1, 256).default(32),
  CERTFLOW_PUSH_DISABLE_AFTER_SECONDS: integer(1, 30 * 86_400).default(5 * 86_400),
  CERTFLOW_PUSH_RETRY_AFTER_MAX_SECONDS: integer(0, 86_400).default(3600),
  CERTFLOW_PUSH_MAX_RESPONSE_BYTES: integer(0, 16 * 1024 * 1024).default(64 * 1024),
  CERTFLOW_PUSH_SECRET_GRACE_SECONDS: integer(0, 30 * 86_400).default(86_400),
  CERTFLOW_CONVERSION_WORKERS: integer(1, 256).default(Math.max(1, availableParallelism())),
  CERTFLOW_CONVERSION_QUEUE: integer(1, 100_000).default(1000),
  /** The bearer token of the registry's wire API (DESIGN.md §8). */
  CERTFLOW_REGISTRY_TOKEN: z.string().min(1).optional(),
  CERTFLOW_EMULATOR_PORT: integer(0, 65535).default(8090),
  CERTFLOW_EMULATOR_CONTROL_PORT: integer(0, 65535).optional(),
  // Fault knobs of the registry emulator at start (src/core/registry/faults.ts); unset: the demo defaults.
  CERTFLOW_EMULATOR_ACCEPT_LATENCY_MS: integer(0, 86_400_000).optional(),
  CERTFLOW_EMULATOR_COMMIT_LATENCY_MS: latencyRange.optional(),
  CERTFLOW_EMULATOR_FINALIZE_INTERVAL_MS: integer(0, 86_400_000).optional(),
  CERTFLOW_EMULATOR_UNAVAILABLE: z.enum(["off", "refuse", "503"]).optional(),
  CERTFLOW_EMULATOR_DROP_REQUEST_RATE: rate.optional(),
  CERTFLOW_EMULATOR_DROP_RESPONSE_RATE: rate.optional(),
  CERTFLOW_EMULATOR_DELAY_REQUEST_MS: integer(0, 86_400_000).optional(),
  CERTFLOW_EMULATOR_STUCK_PENDING: booleanFlag.optional(),
  CERTFLOW_EMULATOR_FAILED_STATUS_TTL_MS: integer(1, 86_400_000).optional(),
  CERTFLOW_EMULATOR_DEDUPE: z.enum(["none", "txId"]).optional(),
  CERTFLOW_EMULATOR_STREAM_READS: booleanFlag.optional(),
  CERTFLOW_EMULATOR_SEED: integer(0, 2 ** 32 - 1).optional(),
  CERTFLOW_STATS_WINDOW_SECONDS: integer(1, 86_400).default(300),
  CERTFLOW_SLO_CHECK_SECONDS: integer(1, 3600).default(10),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: "expected an http(s):// URL of an OTLP/HTTP collector" }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/, error: "expected the http(s):// URL OTLP traces are posted to" }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(200).default("certflow"),
  CERTFLOW_REGISTRY_URL: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).optional(),
  CERTFLOW_REGISTRY_TIMEOUT_MS: integer(10, 600_000).default(10_000),
  CERTFLOW_REGISTRY_POLL_MS: integer(1, 600_000).default(1000),
  CERTFLOW_REGISTRY_POLL_MAX_MS: integer(1, 3_600_000).default(30_000),
  CERTFLOW_REGISTRY_RETRY_MS: integer(1, 600_000).default(1000),
  CERTFLOW_REGISTRY_DEADLINE_SECONDS: integer(1, 30 * 86_400).default(3600),
  CERTFLOW_REGISTRY_UNKNOWN_GRACE_MS: integer(0, 86_400_000).default(30_000),
  CERTFLOW_REGISTRY_BATCH: integer(1, 1000).default(1000),
  CERTFLOW_REGISTRY_CONCURRENCY: integer(1, 1024).default(64),
  CERTFLOW_RECONCILE_INTERVAL_SECONDS: integer(1, 86_400).default(300),
});

export type Config = ReturnType<typeof toConfig>;

function toConfig(env: z.infer<typeof EnvSchema>) {
  return {
    http: { port: env.PORT, host: env.HOST, maxBodyBytes: env.CERTFLOW_MAX_BODY_BYTES },
    database: { url: env.DATABASE_URL, schema: env.DATABASE_SCHEMA, poolSize: env.DATABASE_POOL_SIZE },
    nats: {
      servers: env.NATS_URL,
      replicas: env.CERTFLOW_STREAM_REPLICAS,
      namespace: env.CERTFLOW_NAMESPACE,
      partitions: env.CERTFLOW_PARTITIONS,
      dedupWindowSeconds: env.CERTFLOW_DEDUP_WINDOW_SECONDS,
      streamMaxAgeHours: env.CERTFLOW_STREAM_MAX_AGE_HOURS,
    },
    auth: { adminToken: env.CERTFLOW_ADMIN_TOKEN, cacheSeconds: env.CERTFLOW_AUTH_CACHE_SECONDS },
    delivery: {
      ackTimeoutSeconds: env.CERTFLOW_ACK_TIMEOUT_SECONDS,
      maxDeliveries: env.CERTFLOW_MAX_DELIVERIES,
    },
    prefill: {
      concurrency: env.CERTFLOW_PREFILL_CONCURRENCY,
      pageSize: env.CERTFLOW_PREFILL_PAGE_SIZE,
      staleSeconds: env.CERTFLOW_PREFILL_STALE_SECONDS,
      catchUpTimeoutSeconds: env.CERTFLOW_PREFILL_CATCHUP_TIMEOUT_SECONDS,
    },
    push: {
      retryScheduleSeconds: env.CERTFLOW_PUSH_RETRY_SCHEDULE,
      timeoutSeconds: env.CERTFLOW_PUSH_TIMEOUT_SECONDS,
      concurrency: env.CERTFLOW_PUSH_CONCURRENCY,
      disableAfterSeconds: env.CERTFLOW_PUSH_DISABLE_AFTER_SECONDS,
      retryAfterMaxSeconds: env.CERTFLOW_PUSH_RETRY_AFTER_MAX_SECONDS,
      maxResponseBytes: env.CERTFLOW_PUSH_MAX_RESPONSE_BYTES,
      secretGraceSeconds: env.CERTFLOW_PUSH_SECRET_GRACE_SECONDS,
      allowPrivate: env.CERTFLOW_PUSH_ALLOW_PRIVATE,
    },
    conversions: { workers: env.CERTFLOW_CONVERSION_WORKERS, queue: env.CERTFLOW_CONVERSION_QUEUE },
    registryEmulator: {
      port: env.CERTFLOW_EMULATOR_PORT,
      controlPort: env.CERTFLOW_EMULATOR_CONTROL_PORT,
      token: env.CERTFLOW_REGISTRY_TOKEN,
      /** Only the knobs set; the emulator fills in the rest. */
      faults: definedOnly({
        acceptLatencyMs: env.CERTFLOW_EMULATOR_ACCEPT_LATENCY_MS,
        commitLatencyMs: env.CERTFLOW_EMULATOR_COMMIT_LATENCY_MS,
        finalizeIntervalMs: env.CERTFLOW_EMULATOR_FINALIZE_INTERVAL_MS,
        unavailable: env.CERTFLOW_EMULATOR_UNAVAILABLE,
        dropRequestRate: env.CERTFLOW_EMULATOR_DROP_REQUEST_RATE,
        dropResponseRate: env.CERTFLOW_EMULATOR_DROP_RESPONSE_RATE,
        delayRequestMs: env.CERTFLOW_EMULATOR_DELAY_REQUEST_MS,
        stuckPending: env.CERTFLOW_EMULATOR_STUCK_PENDING,
        failedStatusTtlMs: env.CERTFLOW_EMULATOR_FAILED_STATUS_TTL_MS,
        dedupe: env.CERTFLOW_EMULATOR_DEDUPE,
        streamReads: env.CERTFLOW_EMULATOR_STREAM_READS,
        seed: env.CERTFLOW_EMULATOR_SEED,
      }),
    },
    telemetry: { statsWindowSeconds: env.CERTFLOW_STATS_WINDOW_SECONDS, sloCheckSeconds: env.CERTFLOW_SLO_CHECK_SECONDS },
    tracing: { otlpTracesUrl: otlpTracesUrl(env), serviceName: env.OTEL_SERVICE_NAME },
    cluster: { leaseSeconds: env.CERTFLOW_LEASE_SECONDS },
    retention: {
      deliveriesSeconds: env.CERTFLOW_RETENTION_DELIVERIES,
      deadLettersSeconds: env.CERTFLOW_RETENTION_DEAD_LETTERS,
      journalSeconds: env.CERTFLOW_RETENTION_JOURNAL,
      pushAttemptsSeconds: env.CERTFLOW_RETENTION_PUSH_ATTEMPTS,
      prefillSeconds: env.CERTFLOW_RETENTION_PREFILL,
      leaseHistorySeconds: env.CERTFLOW_RETENTION_LEASE_HISTORY,
      commandsSeconds: env.CERTFLOW_RETENTION_COMMANDS,
      intervalSeconds: env.CERTFLOW_RETENTION_INTERVAL_SECONDS,
      batch: env.CERTFLOW_RETENTION_BATCH,
    },
    registry: {
      url: env.CERTFLOW_REGISTRY_URL,
      token: env.CERTFLOW_REGISTRY_TOKEN,
      timeoutMs: env.CERTFLOW_REGISTRY_TIMEOUT_MS,
      pollMs: env.CERTFLOW_REGISTRY_POLL_MS,
      pollMaxMs: env.CERTFLOW_REGISTRY_POLL_MAX_MS,
      retryMs: env.CERTFLOW_REGISTRY_RETRY_MS,
      deadlineSeconds: env.CERTFLOW_REGISTRY_DEADLINE_SECONDS,
      unknownGraceMs: env.CERTFLOW_REGISTRY_UNKNOWN_GRACE_MS,
      batch: env.CERTFLOW_REGISTRY_BATCH,
      concurrency: env.CERTFLOW_REGISTRY_CONCURRENCY,
      reconcileIntervalSeconds: env.CERTFLOW_RECONCILE_INTERVAL_SECONDS,
    },
    services: env.SERVICES as ServiceName[],
    logLevel: env.LOG_LEVEL,
    shutdownTimeoutSeconds: env.CERTFLOW_SHUTDOWN_TIMEOUT_SECONDS,
  };
}

function definedOnly<T extends Record<string, unknown>>(values: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<{
    [K in keyof T]: Exclude<T[K], undefined>;
  }>;
}

/** OpenTelemetry's convention: the traces URL as given, or `/v1/traces` under the base endpoint; unset means no export. */
function otlpTracesUrl(env: z.infer<typeof EnvSchema>): string | undefined {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, "")}/v1/traces`;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Reads the environment once; the first invalid variable becomes one line that names it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "environment");
    throw new ConfigError(`Invalid configuration: ${variable} ${issue.message}`);
  }
  return toConfig(parsed.data);
}
