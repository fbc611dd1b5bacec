import { describe, expect, it } from "vitest";
import {
  asStoredNotification,
  CERTIFICATE_TYPES,
  NOTIFICATION_TYPES,
  NotificationInputSchema,
  PRODUCED_TYPES,
  REGISTRY_TYPES,
} from "../../src/core/notifications/envelope.js";
import { certificate } from "../support/fixtures.js";

const CERT_ID = "cert-1";

function input(type: string, data: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) {
  return { type, subject: CERT_ID, data: certificate(data), ...envelope };
}

const issued = (data: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) =>
  input("certificate.issued", data, envelope);

/** The paths of the issues a refused input produces; fails if it is accepted. */
function issuePaths(value: unknown): PropertyKey[][] {
  const result = NotificationInputSchema.safeParse(value);
  expect(result.success, "expected the input to be refused").toBe(false);
  return result.error!.issues.map((issue) => issue.path);
}

function accepted(value: unknown) {
  const result = NotificationInputSchema.safeParse(value);
  expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
  return result.data!;
}

describe("NotificationInputSchema: valid input", () => {
  it("accepts a certificate.issued and returns the parsed data", () => {
    const parsed = accepted(issued());
    expect(parsed.type).toBe("certificate.issued");
    expect(parsed.subject).toBe(CERT_ID);
    expect(parsed.data).toEqual(certificate());
  });

  it("accepts the optional envelope fields", () => {
    const parsed = accepted(
      issued(
        {},
        {
          id: "0190a0b0-0000-7000-8000-000000000001",
          parentId: null,
          correlationId: "0190a0b0-0000-7000-8000-000000000002",
          source: { name: "registry", version: "1.2.3" },
        },
      ),
    );
    expect(parsed.id).toBe("0190a0b0-0000-7000-8000-000000000001");
    expect(parsed.parentId).toBeNull();
    expect(parsed.source).toEqual({ name: "registry", version: "1.2.3" });
  });

  it("normalises time and period timestamps to UTC ISO strings", () => {
    const parsed = accepted(
      issued(
        { periodStart: "2025-01-01T01:00:00+01:00", periodEnd: "2025-12-31T19:00:00-05:00" },
        { time: "2026-03-01T12:30:00+02:00" },
      ),
    );
    expect(parsed.time).toBe("2026-03-01T10:30:00.000Z");
    expect(parsed.data.periodStart).toBe("2025-01-01T00:00:00.000Z");
    expect(parsed.data.periodEnd).toBe("2026-01-01T00:00:00.000Z");
  });

  it("accepts an hourly issued certificate that names its parent", () => {
    const parsed = accepted(issued({ kind: "hourly", parentCertificateId: "annual-1" }));
    expect(parsed.data.parentCertificateId).toBe("annual-1");
  });

  it("accepts the type-specific extras of each type", () => {
    accepted(input("certificate.cancelled", { status: "cancelled", reason: "mistake" }));
    accepted(input("certificate.converted", { status: "cancelled", hourlyCertificateCount: 24 }));
    accepted(input("certificate.sliced", { slices: [{ certificateId: "cert-1a", quantityWh: 10 }] }));
    accepted(input("certificate.transferred", { status: "transferred", previousOwner: "owner-0" }));
    accepted(input("certificate.claimed", { status: "claimed", beneficiary: "someone" }));
    accepted(input("certificate.withdrawn", { status: "withdrawn" }));
    accepted(input("certificate.expired", { status: "expired" }));
  });

  it("accepts zero watt-hours", () => {
    expect(accepted(issued({ quantityWh: 0 })).data.quantityWh).toBe(0);
  });
});

describe("NotificationInputSchema: data fields", () => {
  it("names data.quantityWh when it is negative", () => {
    expect(issuePaths(issued({ quantityWh: -1 }))).toEqual([["data", "quantityWh"]]);
  });

  it("names data.quantityWh when it is fractional", () => {
    expect(issuePaths(issued({ quantityWh: 1.5 }))).toEqual([["data", "quantityWh"]]);
  });

  it("names data.quantityWh when it is a string", () => {
    expect(issuePaths(issued({ quantityWh: "100" }))).toEqual([["data", "quantityWh"]]);
  });

  it("names a missing required data field", () => {
    const data = certificate();
    delete data.owner;
    expect(issuePaths({ type: "certificate.issued", subject: CERT_ID, data })).toEqual([["data", "owner"]]);
  });

  it("refuses an unknown field inside data", () => {
    expect(issuePaths(issued({ colour: "green" }))).toEqual([["data"]]);
  });

  it("refuses an identifier with whitespace", () => {
    expect(issuePaths(issued({ deviceId: "device 1" }))).toEqual([["data", "deviceId"]]);
  });

  it("refuses a periodEnd equal to periodStart", () => {
    expect(issuePaths(issued({ periodEnd: "2025-01-01T00:00:00Z" }))).toEqual([["data", "periodEnd"]]);
  });

  it("refuses a periodEnd before periodStart, even when written in another offset", () => {
    // 2025-01-01T00:30:00+01:00 is 2024-12-31T23:30:00Z, before periodStart.
    expect(issuePaths(issued({ periodEnd: "2025-01-01T00:30:00+01:00" }))).toEqual([["data", "periodEnd"]]);
  });

  it("refuses a timestamp without an offset", () => {
    expect(issuePaths(issued({ periodStart: "2025-01-01T00:00:00" }))).toEqual([["data", "periodStart"]]);
  });

  it("refuses a version below 1", () => {
    expect(issuePaths(issued({ version: 0 }))).toEqual([["data", "version"]]);
  });
});

describe("NotificationInputSchema: status after each type", () => {
  it.each([
    ["certificate.issued", "cancelled"],
    ["certificate.cancelled", "active"],
    ["certificate.converted", "active"],
    ["certificate.sliced", "claimed"],
    ["certificate.transferred", "cancelled"],
    ["certificate.claimed", "active"],
    ["certificate.withdrawn", "active"],
    ["certificate.expired", "active"],
  ])("refuses %s with status %s", (type, status) => {
    const extras: Record<string, Record<string, unknown>> = {
      "certificate.converted": { hourlyCertificateCount: 1 },
      "certificate.sliced": { slices: [{ certificateId: "c-a", quantityWh: 1 }] },
      "certificate.transferred": { previousOwner: "owner-0" },
    };
    expect(issuePaths(input(type, { status, ...extras[type] }))).toEqual([["data", "status"]]);
  });

  it("says which status a cancelled notification needs", () => {
    const result = NotificationInputSchema.safeParse(input("certificate.cancelled", { status: "active" }));
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.message).toBe("must be cancelled for certificate.cancelled");
  });

  it.each(["active", "cancelled"])("accepts certificate.sliced with status %s", (status) => {
    accepted(input("certificate.sliced", { status, slices: [{ certificateId: "c-a", quantityWh: 1 }] }));
  });

  it.each(["active", "transferred"])("accepts certificate.transferred with status %s", (status) => {
    accepted(input("certificate.transferred", { status, previousOwner: "owner-0" }));
  });
});

describe("NotificationInputSchema: type-specific rules", () => {
  it("requires parentCertificateId for an hourly issued certificate", () => {
    expect(issuePaths(issued({ kind: "hourly" }))).toEqual([["data", "parentCertificateId"]]);
  });

  it("requires hourlyCertificateCount on certificate.converted", () => {
    expect(issuePaths(input("certificate.converted", { status: "cancelled" }))).toEqual([
      ["data", "hourlyCertificateCount"],
    ]);
  });

  it("requires at least one slice on certificate.sliced", () => {
    expect(issuePaths(input("certificate.sliced", { slices: [] }))).toEqual([["data", "slices"]]);
  });

  it("names the offending slice field", () => {
    expect(issuePaths(input("certificate.sliced", { slices: [{ certificateId: "c-a", quantityWh: -5 }] }))).toEqual([
      ["data", "slices", 0, "quantityWh"],
    ]);
  });

  it("requires previousOwner on certificate.transferred", () => {
    expect(issuePaths(input("certificate.transferred", { status: "transferred" }))).toEqual([["data", "previousOwner"]]);
  });

  it("refuses the extras of another type", () => {
    expect(issuePaths(issued({ reason: "not for issued" }))).toEqual([["data"]]);
  });
});

describe("NotificationInputSchema: envelope", () => {
  it("requires subject to equal data.certificateId", () => {
    const result = NotificationInputSchema.safeParse(issued({}, { subject: "cert-2" }));
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((issue) => [issue.path, issue.message])).toEqual([
      [["subject"], "must equal data.certificateId"],
    ]);
  });

  it("refuses certificate.snapshot from a producer", () => {
    expect(PRODUCED_TYPES).not.toContain("certificate.snapshot");
    expect(issuePaths(input("certificate.snapshot"))).toEqual([["type"]]);
  });

  it("refuses an unknown type", () => {
    expect(issuePaths(input("certificate.stolen"))).toEqual([["type"]]);
  });

  it("lists every certificate type except certificate.snapshot as producible, and no registry or operational type", () => {
    expect(PRODUCED_TYPES).toEqual(CERTIFICATE_TYPES.filter((type) => type !== "certificate.snapshot"));
    expect(NOTIFICATION_TYPES).toEqual([...CERTIFICATE_TYPES, ...REGISTRY_TYPES, "prefill.completed", "subscription.disabled", "subscription.resumed", "subscription.lagging", "subscription.recovered"]);
  });

  it("refuses an unknown top-level field", () => {
    const result = NotificationInputSchema.safeParse(issued({}, { priority: "high" }));
    expect(result.success).toBe(false);
    expect(result.error!.issues).toHaveLength(1);
    expect(result.error!.issues[0]!.code).toBe("unrecognized_keys");
    expect(result.error!.issues[0]!.message).toContain("priority");
  });

  it("refuses an unknown field in source", () => {
    expect(issuePaths(issued({}, { source: { name: "x", colour: "red" } }))).toEqual([["source"]]);
  });

  it("refuses an id that is not a UUID", () => {
    expect(issuePaths(issued({}, { id: "not-a-uuid" }))).toEqual([["id"]]);
  });

  it("refuses a time that is not RFC 3339", () => {
    expect(issuePaths(issued({}, { time: "yesterday" }))).toEqual([["time"]]);
  });

  it("refuses a subject with forbidden characters", () => {
    expect(issuePaths(issued({ certificateId: "bad id" }, { subject: "bad id" }))[0]).toEqual(["subject"]);
  });

  it("refuses data that is not an object", () => {
    expect(issuePaths({ type: "certificate.issued", subject: CERT_ID, data: [] })).toEqual([["data"]]);
  });
});

describe("asStoredNotification", () => {
  const stored = {
    id: "0190f1a2-0000-7000-8000-000000000001",
    type: "certificate.issued",
    source: { name: "registry", version: "1" },
    time: "2026-01-01T00:00:00.000Z",
    subject: "cert-1",
    parentId: null,
    correlationId: "0190f1a2-0000-7000-8000-000000000001",
    channel: "http",
    data: { certificateId: "cert-1" },
  };

  it("accepts a stored envelope as it is", () => {
    expect(asStoredNotification(stored)).toBe(stored);
    expect(asStoredNotification({ ...stored, parentId: stored.id, time: "2026-01-01T01:00:00+01:00" })).toBeDefined();
  });

  it.each([
    ["a missing id", { ...stored, id: undefined }],
    ["an id that is not a UUID", { ...stored, id: "x" }],
    ["an unknown type", { ...stored, type: "certificate.nope" }],
    ["a time that PostgreSQL could not read", { ...stored, time: "yesterday" }],
    ["an empty subject", { ...stored, subject: "" }],
    ["a parentId that is not a UUID", { ...stored, parentId: "x" }],
    ["an unknown channel", { ...stored, channel: "carrier-pigeon" }],
    ["data that is not an object", { ...stored, data: [] }],
    ["a source without a version", { ...stored, source: { name: "registry" } }],
    ["something else entirely", "hello"],
  ])("refuses %s", (_, value) => {
    expect(asStoredNotification(value)).toBeUndefined();
  });
});
