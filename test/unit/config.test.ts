import { describe, expect, it } from "vitest";
import { availableParallelism } from "node:os";
import { ConfigError, DEFAULT_SERVICES, loadConfig, SERVICE_NAMES } from "../../src/core/config.js";

const ADMIN_TOKEN = "0123456789abcdef-admin";

/** A minimal valid environment, with overrides. */
const env = (overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => ({
  CERTFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
  ...overrides,
});

/** Runs loadConfig and returns the ConfigError it throws (fails the test if it does not throw one). */
function configError(environment: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected loadConfig to throw a ConfigError");
}

function expectOneLineNaming(environment: NodeJS.ProcessEnv, variable: string): string {
  const error = configError(environment);
  expect(error.name).toBe("ConfigError");
  expect(error.message).not.toContain("\n");
  expect(error.message.startsWith(`Invalid configuration: ${variable} `)).toBe(true);
  return error.message;
}

describe("loadConfig defaults", () => {
  it("fills every setting with its default when only the admin token is set", () => {
    expect(loadConfig(env())).toEqual({
      http: { port: 8080, host: "0.0.0.0", maxBodyBytes: 16 * 1024 * 1024 },
      database: { url: "postgres://postgres@127.0.0.1:5432/certflow", schema: "public", poolSize: 16 },
      nats: {
        servers: ["nats://127.0.0.1:4222"],
        replicas: 1,
        namespace: "certflow",
        partitions: 8,
        dedupWindowSeconds: 600,
        streamMaxAgeHours: 168,
      },
      auth: { adminToken: ADMIN_TOKEN, cacheSeconds: 5 },
      delivery: { ackTimeoutSeconds: 30, maxDeliveries: 5 },
      prefill: { concurrency: 4, pageSize: 5000, staleSeconds: 30, catchUpTimeoutSeconds: 300 },
      push: {
        retryScheduleSeconds: [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000],
        timeoutSeconds: 15,
        concurrency: 32,
        disableAfterSeconds: 5 * 86_400,
        retryAfterMaxSeconds: 3600,
        maxResponseBytes: 65_536,
        secretGraceSeconds: 86_400,
        allowPrivate: false,
      },
      conversions: { workers: availableParallelism(), queue: 1000 },
      registryEmulator: { port: 8090, faults: {} },
      telemetry: { statsWindowSeconds: 300, sloCheckSeconds: 10 },
      tracing: { otlpTracesUrl: undefined, serviceName: "certflow" },
      cluster: { leaseSeconds: 10 },
      retention: {
        deliveriesSeconds: 7 * 86_400,
        deadLettersSeconds: 30 * 86_400,
        journalSeconds: 30 * 86_400,
        pushAttemptsSeconds: 30 * 86_400,
        prefillSeconds: 7 * 86_400,
        leaseHistorySeconds: 7 * 86_400,
        commandsSeconds: 30 * 86_400,
        intervalSeconds: 60,
        batch: 1000,
      },
      registry: {
        url: undefined,
        token: undefined,
        timeoutMs: 10_000,
        pollMs: 1000,
        pollMaxMs: 30_000,
        retryMs: 1000,
        deadlineSeconds: 3600,
        unknownGraceMs: 30_000,
        batch: 1000,
        concurrency: 64,
        reconcileIntervalSeconds: 300,
      },
      services: ["producer", "dispatcher", "consumer", "prefill", "certificates", "connector"],
      logLevel: "info",
      shutdownTimeoutSeconds: 20,
    });
  });

  it("treats empty strings as unset, so defaults apply", () => {
    const config = loadConfig(env({ PORT: "", SERVICES: "", LOG_LEVEL: "", CERTFLOW_PUSH_ALLOW_PRIVATE: "" }));
    expect(config.http.port).toBe(8080);
    expect(config.services).toEqual([...DEFAULT_SERVICES]);
    expect(config.logLevel).toBe("info");
    expect(config.push.allowPrivate).toBe(false);
  });

  it("ignores unrelated environment variables", () => {
    expect(() => loadConfig(env({ PATH: "/usr/bin", HOME: "/root", SOMETHING_ELSE: "x" }))).not.toThrow();
  });

  it("maps every variable onto the config it names", () => {
    const config = loadConfig(
      env({
        PORT: "9000",
        HOST: "127.0.0.1",
        DATABASE_URL: "postgresql://user:pw@db:5432/app",
        DATABASE_SCHEMA: "tenant_1",
        DATABASE_POOL_SIZE: "4",
        NATS_URL: "tls://nats.example:4222",
        CERTFLOW_NAMESPACE: "test-ns_1",
        CERTFLOW_PUSH_ALLOW_PRIVATE: "true",
        SERVICES: "consumer",
        LOG_LEVEL: "debug",
        CERTFLOW_PARTITIONS: "16",
        CERTFLOW_DEDUP_WINDOW_SECONDS: "60",
        CERTFLOW_STREAM_MAX_AGE_HOURS: "24",
        CERTFLOW_ACK_TIMEOUT_SECONDS: "10",
        CERTFLOW_MAX_DELIVERIES: "3",
        CERTFLOW_AUTH_CACHE_SECONDS: "0",
        CERTFLOW_MAX_BODY_BYTES: "2048",
        CERTFLOW_SHUTDOWN_TIMEOUT_SECONDS: "7",
        CERTFLOW_PREFILL_CONCURRENCY: "2",
        CERTFLOW_PREFILL_PAGE_SIZE: "1000",
        CERTFLOW_PREFILL_STALE_SECONDS: "5",
        CERTFLOW_PREFILL_CATCHUP_TIMEOUT_SECONDS: "60",
        CERTFLOW_PUSH_RETRY_SCHEDULE: "0, 1,2",
        CERTFLOW_PUSH_TIMEOUT_SECONDS: "2",
        CERTFLOW_PUSH_CONCURRENCY: "4",
        CERTFLOW_PUSH_DISABLE_AFTER_SECONDS: "60",
        CERTFLOW_PUSH_RETRY_AFTER_MAX_SECONDS: "10",
        CERTFLOW_PUSH_MAX_RESPONSE_BYTES: "1024",
        CERTFLOW_PUSH_SECRET_GRACE_SECONDS: "30",
        CERTFLOW_CONVERSION_WORKERS: "3",
        CERTFLOW_CONVERSION_QUEUE: "50",
        CERTFLOW_STATS_WINDOW_SECONDS: "60",
        CERTFLOW_SLO_CHECK_SECONDS: "2",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/",
        OTEL_SERVICE_NAME: "certflow-test",
        CERTFLOW_REGISTRY_URL: "http://registry.example:7000",
        CERTFLOW_REGISTRY_TOKEN: "registry-secret",
        CERTFLOW_REGISTRY_TIMEOUT_MS: "2000",
        CERTFLOW_REGISTRY_POLL_MS: "50",
        CERTFLOW_REGISTRY_POLL_MAX_MS: "500",
        CERTFLOW_REGISTRY_RETRY_MS: "20",
        CERTFLOW_REGISTRY_DEADLINE_SECONDS: "60",
        CERTFLOW_REGISTRY_UNKNOWN_GRACE_MS: "100",
        CERTFLOW_REGISTRY_BATCH: "10",
        CERTFLOW_REGISTRY_CONCURRENCY: "8",
        CERTFLOW_RECONCILE_INTERVAL_SECONDS: "9",
      }),
    );
    expect(config).toEqual({
      http: { port: 9000, host: "127.0.0.1", maxBodyBytes: 2048 },
      database: { url: "postgresql://user:pw@db:5432/app", schema: "tenant_1", poolSize: 4 },
      nats: { servers: ["tls://nats.example:4222"], replicas: 1, namespace: "test-ns_1", partitions: 16, dedupWindowSeconds: 60, streamMaxAgeHours: 24 },
      auth: { adminToken: ADMIN_TOKEN, cacheSeconds: 0 },
      delivery: { ackTimeoutSeconds: 10, maxDeliveries: 3 },
      prefill: { concurrency: 2, pageSize: 1000, staleSeconds: 5, catchUpTimeoutSeconds: 60 },
      push: {
        retryScheduleSeconds: [0, 1, 2],
        timeoutSeconds: 2,
        concurrency: 4,
        disableAfterSeconds: 60,
        retryAfterMaxSeconds: 10,
        maxResponseBytes: 1024,
        secretGraceSeconds: 30,
        allowPrivate: true,
      },
      conversions: { workers: 3, queue: 50 },
      registryEmulator: { port: 8090, token: "registry-secret", faults: {} },
      telemetry: { statsWindowSeconds: 60, sloCheckSeconds: 2 },
      tracing: { otlpTracesUrl: "http://collector:4318/v1/traces", serviceName: "certflow-test" },
      cluster: { leaseSeconds: 10 },
      retention: expect.any(Object),
      registry: {
        url: "http://registry.example:7000",
        token: "registry-secret",
        timeoutMs: 2000,
        pollMs: 50,
        pollMaxMs: 500,
        retryMs: 20,
        deadlineSeconds: 60,
        unknownGraceMs: 100,
        batch: 10,
        concurrency: 8,
        reconcileIntervalSeconds: 9,
      },
      services: ["consumer"],
      logLevel: "debug",
      shutdownTimeoutSeconds: 7,
    });
  });
});

describe("loadConfig admin token", () => {
  it("refuses a missing admin token with a one-line message naming CERTFLOW_ADMIN_TOKEN", () => {
    const message = expectOneLineNaming({}, "CERTFLOW_ADMIN_TOKEN");
    expect(message).toContain("is required");
  });

  it("refuses an empty admin token as missing", () => {
    const message = expectOneLineNaming({ CERTFLOW_ADMIN_TOKEN: "" }, "CERTFLOW_ADMIN_TOKEN");
    expect(message).toContain("is required");
  });

  it("refuses an admin token shorter than 16 characters", () => {
    const message = expectOneLineNaming({ CERTFLOW_ADMIN_TOKEN: "a".repeat(15) }, "CERTFLOW_ADMIN_TOKEN");
    expect(message).toContain("at least 16 characters");
  });

  it.each(["cfp_0123456789abcdef", "cfs_0123456789abcdef"])("refuses an admin token shaped like another credential (%s)", (token) => {
    const message = expectOneLineNaming({ CERTFLOW_ADMIN_TOKEN: token }, "CERTFLOW_ADMIN_TOKEN");
    expect(message).toContain("cfp_ or cfs_");
  });

  it("accepts an admin token of exactly 16 characters", () => {
    expect(loadConfig({ CERTFLOW_ADMIN_TOKEN: "a".repeat(16) }).auth.adminToken).toBe("a".repeat(16));
  });
});

describe("loadConfig SERVICES", () => {
  it("parses a comma-separated list, trimming spaces and dropping empty items", () => {
    expect(loadConfig(env({ SERVICES: " producer , consumer,," })).services).toEqual(["producer", "consumer"]);
  });

  it("removes duplicates while keeping first-seen order", () => {
    expect(loadConfig(env({ SERVICES: "dispatcher,producer,dispatcher" })).services).toEqual(["dispatcher", "producer"]);
  });

  it("refuses an unknown service name, listing the known ones", () => {
    const message = expectOneLineNaming(env({ SERVICES: "producer,billing" }), "SERVICES");
    for (const name of SERVICE_NAMES) expect(message).toContain(name);
  });

  it("refuses a list that names no service at all", () => {
    const message = expectOneLineNaming(env({ SERVICES: " , ," }), "SERVICES");
    expect(message).toContain("at least one service");
  });
});

describe("loadConfig booleans", () => {
  it.each([
    ["true", true],
    ["1", true],
    ["yes", true],
    ["false", false],
    ["0", false],
    ["no", false],
  ])("reads CERTFLOW_PUSH_ALLOW_PRIVATE=%s as %s", (value, expected) => {
    expect(loadConfig(env({ CERTFLOW_PUSH_ALLOW_PRIVATE: value })).push.allowPrivate).toBe(expected);
  });

  it("refuses a value that is not a recognised boolean", () => {
    const message = expectOneLineNaming(env({ CERTFLOW_PUSH_ALLOW_PRIVATE: "maybe" }), "CERTFLOW_PUSH_ALLOW_PRIVATE");
    expect(message).toContain("expected true or false");
  });
});

describe("loadConfig integers", () => {
  it.each([
    ["PORT", "65536", "must be at most 65535"],
    ["PORT", "-1", "must be at least 0"],
    ["DATABASE_POOL_SIZE", "1", "must be at least 2"],
    ["DATABASE_POOL_SIZE", "201", "must be at most 200"],
    ["CERTFLOW_PARTITIONS", "0", "must be at least 1"],
    ["CERTFLOW_PARTITIONS", "257", "must be at most 256"],
    ["CERTFLOW_DEDUP_WINDOW_SECONDS", "86401", "must be at most 86400"],
    ["CERTFLOW_STREAM_MAX_AGE_HOURS", "8761", "must be at most 8760"],
    ["CERTFLOW_ACK_TIMEOUT_SECONDS", "43201", "must be at most 43200"],
    ["CERTFLOW_MAX_DELIVERIES", "1001", "must be at most 1000"],
    ["CERTFLOW_AUTH_CACHE_SECONDS", "3601", "must be at most 3600"],
    ["CERTFLOW_MAX_BODY_BYTES", "1023", "must be at least 1024"],
    ["CERTFLOW_SHUTDOWN_TIMEOUT_SECONDS", "601", "must be at most 600"],
  ])("refuses %s=%s as out of range", (variable, value, expected) => {
    const message = expectOneLineNaming(env({ [variable]: value }), variable);
    expect(message).toBe(`Invalid configuration: ${variable} ${expected}`);
  });

  it("accepts the bounds themselves", () => {
    const low = loadConfig(env({ PORT: "0", CERTFLOW_PARTITIONS: "1", CERTFLOW_MAX_BODY_BYTES: "1024" }));
    expect([low.http.port, low.nats.partitions, low.http.maxBodyBytes]).toEqual([0, 1, 1024]);
    const high = loadConfig(env({ PORT: "65535", CERTFLOW_PARTITIONS: "256" }));
    expect([high.http.port, high.nats.partitions]).toEqual([65535, 256]);
  });

  it.each(["abc", "1.5", "8080x", "   ", "0x1F90", "8e3"])("refuses the non-integer PORT=%j", (value) => {
    const message = expectOneLineNaming(env({ PORT: value }), "PORT");
    expect(message).toContain("expected an integer");
  });
});

describe("loadConfig other variables", () => {
  it.each([
    ["DATABASE_URL", "mysql://user@host/db", "expected a postgres:// URL"],
    ["DATABASE_URL", "not a url", "expected a postgres:// URL"],
    ["DATABASE_SCHEMA", "Public", "expected a lower-case SQL identifier"],
    ["DATABASE_SCHEMA", "1abc", "expected a lower-case SQL identifier"],
    ["NATS_URL", "http://127.0.0.1:4222", "expected nats:// URLs"],
    ["CERTFLOW_NAMESPACE", "with.dot", "expected 1-40 letters"],
    ["CERTFLOW_NAMESPACE", "n".repeat(41), "expected 1-40 letters"],
  ])("refuses %s=%s", (variable, value, expected) => {
    const message = expectOneLineNaming(env({ [variable]: value }), variable);
    expect(message).toContain(expected);
  });

  it("refuses an unknown LOG_LEVEL on one line", () => {
    const message = expectOneLineNaming(env({ LOG_LEVEL: "verbose" }), "LOG_LEVEL");
    expect(message).toContain("debug");
  });

  it.each(["nats://a:4222", "tls://a:4222", "ws://a", "wss://a"])("accepts NATS_URL=%s", (url) => {
    expect(loadConfig(env({ NATS_URL: url })).nats.servers).toEqual([url]);
  });

  it("takes NATS_URL as a comma-separated list of servers", () => {
    expect(loadConfig(env({ NATS_URL: "nats://a:4222, nats://b:4222,nats://c:4222" })).nats.servers).toEqual([
      "nats://a:4222",
      "nats://b:4222",
      "nats://c:4222",
    ]);
    expectOneLineNaming(env({ NATS_URL: "nats://a:4222,http://b" }), "NATS_URL");
  });

  it("takes CERTFLOW_STREAM_REPLICAS 1 or 3 and retention periods with a unit", () => {
    const config = loadConfig(env({ CERTFLOW_STREAM_REPLICAS: "3", CERTFLOW_RETENTION_DELIVERIES: "36h", CERTFLOW_RETENTION_JOURNAL: "90s" }));
    expect(config.nats.replicas).toBe(3);
    expect(config.retention.deliveriesSeconds).toBe(36 * 3600);
    expect(config.retention.journalSeconds).toBe(90);
    expect(loadConfig(env({})).retention.deliveriesSeconds).toBe(7 * 86_400);
    expectOneLineNaming(env({ CERTFLOW_STREAM_REPLICAS: "2" }), "CERTFLOW_STREAM_REPLICAS");
    expectOneLineNaming(env({ CERTFLOW_RETENTION_DEAD_LETTERS: "30" }), "CERTFLOW_RETENTION_DEAD_LETTERS");
  });

  it("reports only the first invalid variable when several are wrong", () => {
    const error = configError(env({ PORT: "abc", SERVICES: "nope" }));
    expect(error.message).not.toContain("\n");
    expect(error.message).toMatch(/^Invalid configuration: (PORT|SERVICES) /);
    expect(error.message.includes("PORT") && error.message.includes("SERVICES")).toBe(false);
  });
});

describe("loadConfig registry emulator", () => {
  it("keeps only the fault knobs that are set, parsed", () => {
    const config = loadConfig(
      env({
        CERTFLOW_EMULATOR_PORT: "9100",
        CERTFLOW_EMULATOR_COMMIT_LATENCY_MS: "20-60",
        CERTFLOW_EMULATOR_DROP_RESPONSE_RATE: "0.5",
        CERTFLOW_EMULATOR_DEDUPE: "txId",
        CERTFLOW_EMULATOR_STUCK_PENDING: "true",
        CERTFLOW_REGISTRY_TOKEN: "wire-secret",
      }),
    );
    expect(config.registryEmulator).toEqual({
      port: 9100,
      token: "wire-secret",
      faults: { commitLatencyMs: { min: 20, max: 60 }, dropResponseRate: 0.5, dedupe: "txId", stuckPending: true },
    });
  });

  it("reads a single commit latency as both ends of the range", () => {
    expect(loadConfig(env({ CERTFLOW_EMULATOR_COMMIT_LATENCY_MS: "50" })).registryEmulator.faults.commitLatencyMs).toEqual({
      min: 50,
      max: 50,
    });
  });

  it.each([
    ["CERTFLOW_EMULATOR_COMMIT_LATENCY_MS", "60-20", "must not exceed"],
    ["CERTFLOW_EMULATOR_COMMIT_LATENCY_MS", "fast", "expected milliseconds or a range"],
    ["CERTFLOW_EMULATOR_DROP_REQUEST_RATE", "1.5", "between 0 and 1"],
    ["CERTFLOW_EMULATOR_UNAVAILABLE", "down", "refuse"],
    ["CERTFLOW_EMULATOR_DEDUPE", "always", "txId"],
  ])("refuses %s=%s", (variable, value, expected) => {
    expect(expectOneLineNaming(env({ [variable]: value }), variable)).toContain(expected);
  });

  it("runs the emulator only when SERVICES names it", () => {
    expect(loadConfig(env()).services).not.toContain("registry-emulator");
    expect(loadConfig(env({ SERVICES: "registry-emulator" })).services).toEqual(["registry-emulator"]);
  });
});
