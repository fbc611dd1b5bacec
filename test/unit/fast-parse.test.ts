import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "@hono/zod-openapi";
import { CertificateStateSchema } from "../../src/core/notifications/certificate.js";
import {
  NotificationInputSchema,
  PRODUCED_TYPES,
  parseCertificateState,
  parseNotificationInput,
} from "../../src/core/notifications/envelope.js";
import { fastParser } from "../../src/core/notifications/fast-parse.js";
import { certificate } from "../support/fixtures.js";

/** Valid data of every produced type: the certificate's state after the change, with that change's fields. */
const VALID_DATA: Record<(typeof PRODUCED_TYPES)[number], Record<string, unknown>> = {
  "certificate.issued": certificate(),
  "certificate.cancelled": certificate({ status: "cancelled", reason: "mistake" }),
  "certificate.converted": certificate({ status: "cancelled", conversionId: "conv-1", hourlyCertificateCount: 8760 }),
  "certificate.sliced": certificate({ status: "cancelled", slices: [{ certificateId: "cert-1a", quantityWh: 10 }, { certificateId: "cert-1b", quantityWh: 0 }] }),
  "certificate.transferred": certificate({ status: "transferred", previousOwner: "owner-b", tradeId: "trade-1" }),
  "certificate.claimed": certificate({ status: "claimed", beneficiary: "Someone" }),
  "certificate.withdrawn": certificate({ status: "withdrawn" }),
  "certificate.expired": certificate({ status: "expired" }),
};

const validInput = (type: (typeof PRODUCED_TYPES)[number]) => ({ type, subject: "cert-1", data: VALID_DATA[type] });

/** The fast path must give exactly what the schema gives: the same value, key order included, or the same issues. */
function expectSameAsSchema(value: unknown) {
  const schema = NotificationInputSchema.safeParse(value);
  const fast = parseNotificationInput(value);
  expect(fast.success).toBe(schema.success);
  if (schema.success) {
    expect(fast.data).toStrictEqual(schema.data);
    expect(JSON.stringify(fast.data)).toBe(JSON.stringify(schema.data));
  } else {
    expect(fast.error!.issues).toStrictEqual(schema.error.issues);
  }
  return schema.success;
}

function expectSameStateAsSchema(value: unknown) {
  const schema = CertificateStateSchema.safeParse(value);
  const fast = parseCertificateState(value);
  expect(fast.success).toBe(schema.success);
  if (schema.success) expect(JSON.stringify(fast.data)).toBe(JSON.stringify(schema.data));
  else expect(fast.error!.issues).toStrictEqual(schema.error.issues);
  return schema.success;
}

const reversedKeys = (object: Record<string, unknown>) => Object.fromEntries(Object.entries(object).reverse());

describe("parseNotificationInput: the fast path gives what NotificationInputSchema gives", () => {
  it.each(PRODUCED_TYPES)("a valid %s, as is and with its keys in another order", (type) => {
    expect(expectSameAsSchema(validInput(type))).toBe(true);
    const input = validInput(type);
    expect(expectSameAsSchema(reversedKeys({ ...input, data: reversedKeys(input.data) }))).toBe(true);
  });

  it("optional envelope fields, and timestamps the schema normalises to UTC milliseconds", () => {
    const cases = [
      { id: "0190a6a8-2b1c-7d3e-8f4a-5b6c7d8e9f00", parentId: null, correlationId: "0190a6a8-2b1c-7d3e-8f4a-5b6c7d8e9f01" },
      { parentId: "0190a6a8-2b1c-7d3e-8f4a-5b6c7d8e9f02", source: { name: "p", version: "2" } },
      { source: {} },
      { time: "2026-03-01T12:00:00Z" },
      { time: "2026-03-01T12:00:00.123456789+02:00" },
      { time: "2026-03-01T12:00:00.000Z" },
      { time: "2024-02-29T23:59:59.999-00:30" },
    ];
    for (const envelope of cases) expect(expectSameAsSchema({ ...validInput("certificate.issued"), ...envelope })).toBe(true);
    const offsets = { periodStart: "2025-01-01T01:00:00+01:00", periodEnd: "2026-01-01T00:00:00.5Z" };
    expect(expectSameAsSchema({ ...validInput("certificate.issued"), data: { ...VALID_DATA["certificate.issued"], ...offsets } })).toBe(true);
  });

  it("refused input gets the schema's own issues", () => {
    const base = validInput("certificate.issued");
    const data = (overrides: Record<string, unknown>) => ({ ...base, data: { ...base.data, ...overrides } });
    const refused = [
      null,
      [],
      "text",
      { ...base, extra: 1 },
      { ...base, id: "not-a-uuid" },
      { ...base, id: "0190a6a8-2b1c-9d3e-8f4a-5b6c7d8e9f00" },
      { ...base, type: "certificate.snapshot" },
      { ...base, subject: "cert-2" },
      { ...base, subject: "x".repeat(129), data: { ...base.data, certificateId: "x".repeat(129) } },
      { ...base, time: "2026-02-30T00:00:00Z" },
      { ...base, time: "2026-01-01T00:00:00" },
      { ...base, source: { name: "p", other: 1 } },
      { ...base, source: { version: "" } },
      { ...base, data: null },
      { ...base, data: [] },
      data({ quantityWh: -1 }),
      data({ quantityWh: 1.5 }),
      data({ quantityWh: Number.MAX_SAFE_INTEGER + 1 }),
      data({ quantityWh: "1" }),
      data({ version: 0 }),
      data({ kind: "weekly" }),
      data({ status: "claimed" }),
      data({ owner: "" }),
      data({ owner: "has space" }),
      data({ periodEnd: "2025-01-01T00:00:00.000Z" }),
      data({ periodEnd: "2025-01-01T01:00:00+02:00" }),
      data({ periodStart: "2025-02-29T00:00:00.000Z" }),
      data({ kind: "hourly" }),
      data({ unknownField: true }),
      { ...validInput("certificate.sliced"), data: { ...VALID_DATA["certificate.sliced"], slices: [] } },
      { ...validInput("certificate.sliced"), data: { ...VALID_DATA["certificate.sliced"], slices: [{ certificateId: "a", quantityWh: 1, x: 1 }] } },
      { ...validInput("certificate.cancelled"), data: { ...VALID_DATA["certificate.cancelled"], reason: "x".repeat(501) } },
      { ...validInput("certificate.converted"), data: { ...VALID_DATA["certificate.converted"], hourlyCertificateCount: 0 } },
      { ...validInput("certificate.transferred"), data: { ...VALID_DATA["certificate.transferred"], tradeId: "" } },
    ];
    for (const value of refused) expect(expectSameAsSchema(value), JSON.stringify(value) ?? String(value)).toBe(false);
    // The same at the edges the schema still accepts.
    for (const value of [data({ quantityWh: 0 }), data({ quantityWh: Number.MAX_SAFE_INTEGER }), data({ owner: "o".repeat(128) }), data({ kind: "hourly", parentCertificateId: "p-1" }), data({ parentCertificateId: undefined })]) {
      expect(expectSameAsSchema(value), JSON.stringify(value)).toBe(true);
    }
  });

  it("agrees with the schema on arbitrary changes to valid input", () => {
    const field = fc.constantFrom(
      "id", "type", "subject", "time", "parentId", "correlationId", "source", "extra",
      "data.certificateId", "data.kind", "data.deviceId", "data.periodStart", "data.periodEnd", "data.quantityWh",
      "data.owner", "data.status", "data.version", "data.parentCertificateId", "data.reason", "data.slices", "data.previousOwner",
    );
    const value = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.boolean(),
      fc.integer({ min: -2, max: 3 }),
      fc.double(),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 53, 1e21, -0),
      fc.string({ maxLength: 6 }),
      fc.constantFrom("cert-1", "", "a b", "x".repeat(128), "x".repeat(129), "active", "hourly", "transferred"),
      fc.constantFrom("2025-06-01T00:00:00Z", "2027-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000+00:00", "2025-13-01T00:00:00Z", "2024-02-29T00:00:00Z"),
      fc.constantFrom("0190a6a8-2b1c-7d3e-8f4a-5b6c7d8e9f00", "00000000-0000-0000-0000-000000000000", "0190A6A8-2B1C-7D3E-8F4A-5B6C7D8E9F00"),
      fc.constant({}),
      fc.constant([]),
      fc.constant([{ certificateId: "s-1", quantityWh: 5 }]),
      fc.constant({ name: "p", version: "1" }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...PRODUCED_TYPES), fc.array(fc.tuple(field, value), { maxLength: 3 }), (type, changes) => {
        const input: Record<string, unknown> = structuredClone(validInput(type));
        for (const [path, replacement] of changes) {
          const [head, key] = path.split(".");
          const target = key ? (input.data as Record<string, unknown>) : input;
          if (!target || typeof target !== "object") continue;
          target[key ?? head!] = replacement;
        }
        expectSameAsSchema(JSON.parse(JSON.stringify(input)));
        expectSameAsSchema(input);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("parseCertificateState: the fast path gives what CertificateStateSchema gives", () => {
  it("valid states, refused ones, and non-canonical timestamps", () => {
    expect(expectSameStateAsSchema(certificate())).toBe(true);
    expect(expectSameStateAsSchema(reversedKeys(certificate({ parentCertificateId: "p-1" })))).toBe(true);
    expect(expectSameStateAsSchema(certificate({ periodStart: "2025-01-01T01:00:00+01:00" }))).toBe(true);
    for (const overrides of [{ reason: "x" }, { version: 1.5 }, { certificateId: "" }, { status: "sold" }, { periodEnd: "soon" }]) {
      expect(expectSameStateAsSchema(certificate(overrides))).toBe(false);
    }
    expect(expectSameStateAsSchema(undefined)).toBe(false);
  });
});

describe("fastParser", () => {
  it("refuses schemas outside the subset it models rather than guess", () => {
    expect(() => fastParser(z.object({ a: z.string() }))).toThrow(/strict/);
    expect(() => fastParser(z.strictObject({ a: z.string() }).refine(() => true))).toThrow(/checks/);
    expect(() => fastParser(z.string().email())).toThrow(/format/);
    expect(() => fastParser(z.string().transform((value) => value.length))).toThrow(/pipe/);
  });
});
