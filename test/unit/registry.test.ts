import { describe, expect, it } from "vitest";
import { DATA_SCHEMAS, NotificationSchema, type CertificateNotificationType } from "../../src/core/notifications/envelope.js";
import { REGISTRY_SOURCE_NAME, registryNotification } from "../../src/certificates/book/envelopes.js";
import { changeNotificationId, hourlyCertificateId, uuidv5 } from "../../src/certificates/book/ids.js";
import type { CertificateRecord, FamilyFacts } from "../../src/certificates/book/registry-store.js";
import { validateAnnual, validateHourly } from "../../src/certificates/book/validation.js";

const annual = {
  certificateId: "A-1",
  kind: "annual" as const,
  deviceId: "device-1",
  gridArea: "DK1",
  energySource: "wind",
  periodStart: "2024-01-01T00:00:00.000Z",
  periodEnd: "2025-01-01T00:00:00.000Z",
  quantityWh: 8784 * 10 + 3,
  owner: "owner-a",
  status: "cancelled" as const,
  version: 2,
};
const conversionId = "01a20080-76a0-760f-96b5-93af436a60af";

describe("deterministic ids", () => {
  it("computes RFC 9562 UUIDv5 (the RFC's DNS example)", () => {
    const dns = Buffer.from("6ba7b8109dad11d180b400c04fd430c8", "hex");
    expect(uuidv5("www.example.com", dns)).toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
  });

  it("gives each (certificate, version) its own stable notification id", () => {
    expect(changeNotificationId("A-1", 1)).toBe(changeNotificationId("A-1", 1));
    expect(new Set([changeNotificationId("A-1", 1), changeNotificationId("A-1", 2), changeNotificationId("A-2", 1)]).size).toBe(3);
    expect(hourlyCertificateId("A-1", 7)).toBe("A-1-h0007");
    expect(hourlyCertificateId("A-1", 8783)).toBe("A-1-h8783");
  });
});

describe("registry notifications", () => {
  it("are valid envelopes whose data passes the type's schema", () => {
    const cancelled = registryNotification({ type: "certificate.cancelled", state: annual, time: new Date("2025-02-01T00:00:00Z") }, "0.1.0");
    const converted = registryNotification(
      { type: "certificate.converted", state: { ...annual, version: 3 }, extras: { conversionId, hourlyCertificateCount: 8784 }, time: new Date(), causeId: conversionId },
      "0.1.0",
    );
    const transferred = registryNotification(
      { type: "certificate.transferred", state: { ...annual, status: "active", owner: "b", version: 4 }, extras: { previousOwner: "owner-a", tradeId: conversionId }, time: new Date(), causeId: conversionId },
      "0.1.0",
    );
    for (const notification of [cancelled, converted, transferred]) {
      expect(NotificationSchema.safeParse(notification).success).toBe(true);
      const data = DATA_SCHEMAS[notification.type as CertificateNotificationType].safeParse(notification.data);
      expect(data.success, JSON.stringify(data.error?.issues)).toBe(true);
      expect(notification).toMatchObject({ source: { name: REGISTRY_SOURCE_NAME, version: "0.1.0" }, channel: "internal", subject: "A-1" });
    }
    expect(cancelled).toMatchObject({ parentId: null, correlationId: cancelled.id, id: changeNotificationId("A-1", 2) });
    expect(converted).toMatchObject({ parentId: conversionId, correlationId: conversionId, id: changeNotificationId("A-1", 3) });
  });
});

const record = (state: Partial<CertificateRecord["state"]>, extra: Partial<CertificateRecord> = {}): CertificateRecord => ({
  state: { ...annual, ...state } as CertificateRecord["state"],
  hour: null,
  initialOwner: "owner-a",
  conversionId,
  convertedAt: new Date(),
  registeredBy: "admin",
  createdAt: new Date(),
  updatedAt: new Date(),
  settled: true,
  ...extra,
});

const facts = (overrides: Partial<FamilyFacts> = {}): FamilyFacts => ({
  count: 8784,
  totalWh: annual.quantityWh,
  distinctHours: 8784,
  distinctStarts: 8784,
  minHour: 0,
  maxHour: 8783,
  outsideParent: 0,
  notOneHour: 0,
  misplaced: 0,
  sourceMismatch: 0,
  idMismatch: 0,
  otherConversion: 0,
  badStatus: 0,
  ...overrides,
});

const result = (checks: Array<{ name: string; result: string }>, name: string) => checks.find((check) => check.name === name)?.result;

describe("validation", () => {
  it("passes every check of a consistent conversion, and names each check", () => {
    const checks = validateAnnual(record({ version: 3 }), facts());
    expect(checks.map((check) => check.name)).toEqual(["exactTotal", "hourCount", "year", "source", "parent", "noDuplicateHours", "uniqueIds", "status"]);
    expect(checks.every((check) => check.result === "passed")).toBe(true);
  });

  it("fails the check that is broken, and only that one", () => {
    expect(result(validateAnnual(record({}), facts({ totalWh: annual.quantityWh - 1 })), "exactTotal")).toBe("failed");
    expect(result(validateAnnual(record({}), facts({ count: 8783, distinctHours: 8783, distinctStarts: 8783, maxHour: 8782 })), "hourCount")).toBe("failed");
    expect(result(validateAnnual(record({}), facts({ distinctStarts: 8783 })), "noDuplicateHours")).toBe("failed");
    expect(result(validateAnnual(record({}), facts({ sourceMismatch: 1 })), "source")).toBe("failed");
    expect(result(validateAnnual(record({}), facts({ otherConversion: 2 })), "parent")).toBe("failed");
    expect(result(validateAnnual(record({}), facts({ idMismatch: 1 })), "uniqueIds")).toBe("failed");
    expect(result(validateAnnual(record({ status: "active" }), facts()), "status")).toBe("failed");
    const broken = validateAnnual(record({}), facts({ totalWh: 1 }));
    expect(broken.filter((check) => check.result === "failed").map((check) => check.name)).toEqual(["exactTotal"]);
  });

  it("skips conversion checks of an unconverted certificate", () => {
    const checks = validateAnnual(record({ status: "active", version: 1 }, { conversionId: null, convertedAt: null }), facts({ count: 0, totalWh: 0 }));
    expect(checks.filter((check) => check.result === "failed")).toEqual([]);
    expect(result(checks, "hourCount")).toBe("skipped");
  });

  it("checks an hourly certificate against its parent", () => {
    const parent = record({ version: 3 });
    const hourly = record(
      { certificateId: "A-1-h0001", kind: "hourly", parentCertificateId: "A-1", periodStart: "2024-01-01T01:00:00.000Z", periodEnd: "2024-01-01T02:00:00.000Z", status: "active", version: 1, quantityWh: 10 },
      { hour: 1, convertedAt: null },
    );
    expect(validateHourly(hourly, parent, facts(), 1).every((check) => check.result === "passed")).toBe(true);
    const misplaced = { ...hourly, hour: 2 };
    const failed = validateHourly(misplaced, parent, facts(), 1).filter((check) => check.result === "failed").map((check) => check.name);
    expect(failed).toEqual(["year", "uniqueIds"]);
    expect(result(validateHourly(hourly, parent, facts(), 2), "noDuplicateHours")).toBe("failed");
    expect(result(validateHourly(hourly, undefined, undefined, 0), "parent")).toBe("failed");
  });
});
