import { eventually } from "../support/eventually.js";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { createLogger } from "../../src/core/logger.js";
import type { Notification } from "../../src/core/notifications/envelope.js";
import type { OutboxRelay } from "../../src/certificates/book/outbox.js";
import type { CertificateRecord, CertificateStore, FamilyFacts } from "../../src/certificates/book/registry-store.js";
import { convert } from "../../src/certificates/conversions/compute.js";
import type { ConversionPool } from "../../src/certificates/conversions/conversion-pool.js";
import { ConversionRunner } from "../../src/certificates/conversions/conversion-runner.js";
import type { ConversionRecord, ConversionStore } from "../../src/certificates/conversions/conversion-store.js";
import type { ConversionLeases } from "../../src/certificates/conversions/leases.js";

const HOURS = 8760;

/** The runner's collaborators, in memory: enough to watch its state machine. */
function harness(options: { status?: ConversionRecord["status"]; hoursPublished?: number; failConvert?: number | "always"; registryFails?: number; conflictOnPersist?: boolean } = {}) {
  const log: string[] = [];
  const issued: number[] = [];
  let convertFailures = 0;
  /** Hours the (simulated) registry has committed: it commits 3,000 more each time it is asked. */
  let committed = options.status === "persisted" ? (options.hoursPublished ?? 0) : 0;
  const conversion: ConversionRecord = {
    id: "01a20090-0000-7000-8000-000000000001",
    annualCertificateId: "A",
    status: options.status ?? "queued",
    profileKind: "uniform",
    profileUnit: null,
    hours: HOURS,
    quantityWh: 1_000_003,
    hoursPersisted: options.status === "persisted" ? HOURS : 0,
    hoursPublished: options.hoursPublished ?? 0,
    attempts: options.status === "persisted" ? 1 : 0,
    error: null,
    validation: null,
    requestedBy: "admin",
    createdAt: new Date(),
    startedAt: new Date(),
    persistedAt: options.status === "persisted" ? new Date("2025-03-01T00:00:00Z") : null,
    finishedAt: null,
  };
  let convertedBy: string | null = options.status === "persisted" ? "01a20090-0000-7000-8000-000000000001" : null;
  const finished: Notification[] = [];

  const store: Partial<ConversionStore> = {
    find: async () => ({ ...conversion }),
    start: async () => {
      if (conversion.status !== "queued" && conversion.status !== "running") return undefined;
      conversion.status = "running";
      conversion.attempts++;
      return { ...conversion };
    },
    profile: async () => null,
    persist: async (id, quantities, issue) => {
      log.push("persist");
      if (options.conflictOnPersist) throw new AppError("conflict", "no longer cancelled");
      const wh = Array.from(quantities as ArrayLike<number>);
      await issue({} as never, id, wh.map((quantityWh, hour) => ({ hour, state: { quantityWh } as never })), "admin");
      conversion.status = "persisted";
      conversion.hoursPersisted = HOURS;
      conversion.persistedAt = new Date("2025-03-01T00:00:00Z");
      convertedBy = id;
      return true;
    },
    issueProgress: async () => {
      committed = Math.min(HOURS, committed + 3000);
      const failed = options.registryFails ?? 0;
      return { committed: committed - failed, failed, firstError: failed > 0 ? "certificate A-h0001 already exists" : null };
    },
    recordPublished: async (_id, hours) => {
      conversion.hoursPublished = hours;
    },
    finish: async (_id, notification) => {
      finished.push(notification);
      conversion.status = "done";
    },
    fail: async (_id, error) => {
      log.push(`fail: ${error}`);
      conversion.status = "failed";
    },
    unfinished: async () => (conversion.status === "done" || conversion.status === "failed" ? [] : [conversion.id]),
  };
  const annual = (): CertificateRecord => ({
    state: {
      certificateId: "A",
      kind: "annual",
      deviceId: "d",
      gridArea: "DK1",
      energySource: "wind",
      periodStart: "2025-01-01T00:00:00.000Z",
      periodEnd: "2026-01-01T00:00:00.000Z",
      quantityWh: 1_000_003,
      owner: "o",
      status: "cancelled",
      version: 2,
    },
    hour: null,
    initialOwner: "o",
    conversionId: convertedBy,
    convertedAt: null,
    registeredBy: "admin",
    createdAt: new Date(),
    updatedAt: new Date(),
    settled: true,
  });
  const facts: FamilyFacts = { count: HOURS, totalWh: 1_000_003, distinctHours: HOURS, distinctStarts: HOURS, minHour: 0, maxHour: HOURS - 1, outsideParent: 0, notOneHour: 0, misplaced: 0, sourceMismatch: 0, idMismatch: 0, otherConversion: 0, badStatus: 0 };
  const certificates: Partial<CertificateStore> = { find: async () => annual(), family: async () => facts };
  const pool = {
    workers: 2,
    convert: async (task: Parameters<ConversionPool["convert"]>[0]) => {
      log.push("convert");
      if (options.failConvert === "always" || convertFailures < (options.failConvert ?? 0)) {
        convertFailures++;
        throw new Error("worker crashed");
      }
      return convert(task);
    },
    close: async () => {},
  };
  const issue = {
    hours: async (_trx: unknown, _id: string, hours: ReadonlyArray<{ hour: number; state: { quantityWh: number } }>) => {
      for (const hour of hours) issued.push(hour.state.quantityWh);
    },
    accepted: () => log.push("connector woken"),
  };
  const leases: Partial<ConversionLeases> = { acquire: async () => true, release: async () => {}, close: async () => {} };
  const relay: Partial<OutboxRelay> = { flushQuietly: async () => {} };
  const runner = new ConversionRunner(
    store as ConversionStore,
    certificates as CertificateStore,
    pool as unknown as ConversionPool,
    issue as never,
    leases as ConversionLeases,
    relay as OutboxRelay,
    createLogger("silent"),
    "1",
    { lanes: 1, queue: 10, progressIntervalMs: 1, retryBaseMs: 1, sweepIntervalMs: 60_000 },
  );
  /** Until the conversion is done or failed (each test then asserts which, and what it left). */
  const settle = () =>
    eventually(() => conversion.status === "done" || conversion.status === "failed", { timeoutMs: 2_000, intervalMs: 5, what: "the conversion to settle" }).catch(
      () => undefined,
    );
  return { runner, conversion, log, issued, finished, settle };
}

describe("ConversionRunner", () => {
  it("apportions, queues one issue command per hour once, waits for the registry to commit them all, then finishes", async () => {
    const h = harness();
    h.runner.submit(h.conversion.id);
    await h.settle();
    await h.runner.stop();
    expect(h.conversion.status).toBe("done");
    expect(h.log).toEqual(["convert", "persist", "connector woken"]);
    expect(h.issued).toHaveLength(HOURS);
    expect(h.issued.reduce((sum, wh) => sum + wh, 0)).toBe(1_000_003);
    expect(h.conversion.hoursPublished).toBe(HOURS);
    expect(h.finished).toHaveLength(1);
    expect(h.finished[0]).toMatchObject({
      type: "certificate.converted",
      subject: "A",
      parentId: h.conversion.id,
      data: { version: 2, conversionId: h.conversion.id, hourlyCertificateCount: HOURS },
    });
  });

  it("resumes a persisted conversion by waiting for the registry, without apportioning or queueing again", async () => {
    const h = harness({ status: "persisted", hoursPublished: 4000 });
    h.runner.start();
    await h.settle();
    await h.runner.stop();
    expect(h.conversion.status).toBe("done");
    expect(h.log).toEqual([]);
    expect(h.issued).toEqual([]);
  });

  it("fails the conversion when the registry fails an hourly issue, keeping what it committed", async () => {
    const h = harness({ registryFails: 1 });
    h.runner.submit(h.conversion.id);
    await h.settle();
    await h.runner.stop();
    expect(h.conversion.status).toBe("failed");
    expect(h.log.at(-1)).toMatch(/^fail: the registry failed 1 of 8760 hourly issues \(certificate A-h0001 already exists\)/);
    expect(h.finished).toEqual([]);
  });

  it("retries apportionment that fails now and then, but fails a conversion that never gets there, without writing", async () => {
    const flaky = harness({ failConvert: 2 });
    flaky.runner.submit(flaky.conversion.id);
    await flaky.settle();
    await flaky.runner.stop();
    expect(flaky.conversion.status).toBe("done");
    expect(flaky.conversion.attempts).toBe(3);

    const broken = harness({ failConvert: "always" });
    broken.runner.submit(broken.conversion.id);
    await broken.settle();
    await broken.runner.stop();
    expect(broken.conversion.status).toBe("failed");
    expect(broken.log.filter((entry) => entry === "convert")).toHaveLength(5);
    expect(broken.log).not.toContain("persist");
    expect(broken.log.at(-1)).toBe("fail: worker crashed");
  });

  it("fails at once on a conflict while persisting", async () => {
    const h = harness({ conflictOnPersist: true });
    h.runner.submit(h.conversion.id);
    await h.settle();
    await h.runner.stop();
    expect(h.conversion.status).toBe("failed");
    expect(h.log).toEqual(["convert", "persist", "fail: no longer cancelled"]);
    expect(h.issued).toEqual([]);
  });
});
