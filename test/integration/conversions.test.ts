import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { eventually } from "../support/eventually.js";

// Every hour is an issue command through the registry: a conversion takes tens of seconds on a shared machine.
vi.setConfig({ testTimeout: 240_000 });
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { createProducer } from "../support/fixtures.js";
import { cancelledAnnual, hoursOf, postCsv, registerAnnual, requestConversion, waitForConversion } from "../support/registry.js";

let system: TestSystem;
let producer: string;

beforeAll(async () => {
  system = await startTestSystem();
  producer = await createProducer(system.api, "registry");
});
afterAll(() => system.destroy());


async function hourlyRows(annualId: string) {
  const result = await sql<{ count: number; hours: number; starts: number; total: string; negative: number; min_hour: number; max_hour: number }>`
    SELECT count(*)::int AS count, count(DISTINCT hour_index)::int AS hours, count(DISTINCT period_start)::int AS starts,
      sum(quantity_wh)::text AS total, count(*) FILTER (WHERE quantity_wh < 0)::int AS negative,
      min(hour_index) AS min_hour, max(hour_index) AS max_hour
    FROM registry_certificates WHERE parent_certificate_id = ${annualId}
  `.execute(system.db);
  return result.rows[0]!;
}

async function quantities(annualId: string): Promise<number[]> {
  const rows = await system.db
    .selectFrom("registry_certificates")
    .select(["hour_index", "quantity_wh"])
    .where("parent_certificate_id", "=", annualId)
    .orderBy("hour_index")
    .execute();
  return rows.map((row) => row.quantity_wh);
}

/** Waits until the journal holds `expected` notifications of this causal chain (rooted at the conversion). */
async function journaled(correlationId: string, type: string, expected: number) {
  return eventually(
    async () => {
      const result = await sql<{ count: number; subjects: number }>`
        SELECT count(*)::int AS count, count(DISTINCT subject)::int AS subjects FROM notifications WHERE correlation_id = ${correlationId} AND type = ${type}
      `.execute(system.db);
      const found = result.rows[0]!;
      expect(found.count, `${type} notifications of ${correlationId}`).toBeGreaterThanOrEqual(expected);
      return found;
    },
    { timeoutMs: 120_000 },
  );
}

/** Every hour within 1 Wh of quantity * weight / sum (exact, in BigInt). */
function followsProfile(hours: number[], total: number, weights: number[]) {
  const sum = weights.reduce((acc, weight) => acc + BigInt(weight), 0n);
  return hours.every((share, hour) => {
    const off = BigInt(share) * sum - BigInt(total) * BigInt(weights[hour]!);
    return off > -sum && off < sum;
  });
}

describe("POST /v1/conversions (uniform)", () => {
  it("converts a cancelled annual certificate into 8,760 hourly certificates summing to it exactly, once", async () => {
    const annual = await cancelledAnnual(system.api, producer, { quantityWh: 1_000_000_007 });
    const accepted = await system.api.post("/v1/conversions", { annualCertificateId: annual.certificateId, profile: { kind: "uniform" } }, producer);
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ conversionId: expect.any(String), duplicate: false });
    expect(accepted.headers.get("location")).toBe(`/v1/conversions/${accepted.body.conversionId}`);
    const conversionId = accepted.body.conversionId as string;

    const done = await waitForConversion(system.api, producer, conversionId);
    expect(done).toMatchObject({
      annualCertificateId: annual.certificateId,
      status: "done",
      profile: { kind: "uniform", unit: null },
      progress: { step: "done", percent: 100, hoursPersisted: 8760, hoursPublished: 8760 },
      counts: { hours: 8760, hourlyCertificates: 8760, notificationsPublished: 8760, quantityWh: 1_000_000_007, attempts: 1 },
      error: null,
      validation: { valid: true },
    });
    expect(done.durationMs).toBeGreaterThanOrEqual(0);
    expect(done.validation.checks.every((check: { result: string }) => check.result === "passed")).toBe(true);

    const rows = await hourlyRows(annual.certificateId);
    expect(rows).toMatchObject({ count: 8760, hours: 8760, starts: 8760, total: "1000000007", negative: 0, min_hour: 0, max_hour: 8759 });
    // 1,000,000,007 = 8,760 x 114,155 + 2,207: the first 2,207 hours get one Wh more.
    const shares = await quantities(annual.certificateId);
    expect([shares[0], shares[2206], shares[2207], shares[8759]]).toEqual([114_156, 114_156, 114_155, 114_155]);

    const converted = await system.api.get(`/v1/certificates/${annual.certificateId}`, producer);
    expect(converted.body).toMatchObject({ status: "cancelled", version: 2, conversionId, convertedAt: expect.any(String) });
    const hour = await system.api.get(`/v1/certificates/${annual.certificateId}-h0025`, producer);
    expect(hour.body).toMatchObject({
      kind: "hourly",
      parentCertificateId: annual.certificateId,
      periodStart: "2025-01-02T01:00:00.000Z",
      periodEnd: "2025-01-02T02:00:00.000Z",
      quantityWh: 114_156,
      owner: annual.owner,
      status: "active",
      version: 1,
      hour: 25,
      conversionId,
      settled: true,
    });
    const hourValidation = await system.api.get(`/v1/certificates/${annual.certificateId}-h0025/validation`, producer);
    expect(hourValidation.body).toMatchObject({ kind: "hourly", valid: true });
    const annualValidation = await system.api.get(`/v1/certificates/${annual.certificateId}/validation`, producer);
    expect(annualValidation.body.valid).toBe(true);
    expect(annualValidation.body.checks.find((check: { name: string }) => check.name === "exactTotal").detail).toContain("1000000007 Wh");

    const march = await system.api.get(
      `/v1/certificates?parentCertificateId=${annual.certificateId}&periodFrom=2025-03-01T00:00:00Z&periodTo=2025-04-01T00:00:00Z&limit=500`,
      producer,
    );
    expect(march.body.data).toHaveLength(500);
    expect(march.body.data[0].periodStart).toBe("2025-03-01T00:00:00.000Z");

    // Once: the same certificate again is refused, naming the conversion.
    const twice = await system.api.post("/v1/conversions", { annualCertificateId: annual.certificateId, profile: { kind: "uniform" } }, producer);
    expect(twice.status).toBe(409);
    expect(twice.body.detail).toContain(conversionId);

    // One certificate.issued per hour, then certificate.converted, all caused by the conversion.
    expect(await journaled(conversionId, "certificate.issued", 8760)).toEqual({ count: 8760, subjects: 8760 });
    expect(await journaled(conversionId, "certificate.converted", 1)).toEqual({ count: 1, subjects: 1 });
    const history = await system.api.get(`/v1/certificates/${annual.certificateId}/history`, producer);
    expect(history.body.notifications.map((entry: any) => [entry.notification.type, entry.notification.data.version])).toEqual([
      ["certificate.issued", 1],
      ["certificate.cancelled", 2],
      ["certificate.converted", 2],
    ]);
    expect(history.body.notifications[2].notification.data).toMatchObject({ conversionId, hourlyCertificateCount: 8760, status: "cancelled" });

    const metrics = (await system.api.get("/metrics")).body as string;
    expect(Number(/^certflow_conversions\{status="done"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^certflow_conversion_pool_queue \d+$/m);
  });

  it("answers the same conversion id again with 202 duplicate, without converting twice", async () => {
    const annual = await cancelledAnnual(system.api, producer);
    const id = "01a20090-0000-7000-8000-000000000001";
    const body = { id, annualCertificateId: annual.certificateId, profile: { kind: "uniform" } };
    expect((await system.api.post("/v1/conversions", body, producer)).body).toMatchObject({ conversionId: id, duplicate: false });
    expect((await system.api.post("/v1/conversions", body, producer)).body).toMatchObject({ conversionId: id, duplicate: true });
    await waitForConversion(system.api, producer, id);
    expect((await hourlyRows(annual.certificateId)).count).toBe(8760);
    const other = await registerAnnual(system.api, producer);
    expect((await system.api.post("/v1/conversions", { ...body, annualCertificateId: other.certificateId }, producer)).status).toBe(409);
  });
});

describe("POST /v1/conversions (profiles)", () => {
  it("converts a leap year into 8,784 hours following an hourly profile to within 1 Wh", async () => {
    const annual = await cancelledAnnual(system.api, producer, { year: 2024, quantityWh: 987_654_321_987 });
    const valuesWh = Array.from({ length: 8784 }, (_, hour) => Math.max(0, Math.round(1000 * Math.sin(((hour % 24) - 6) * (Math.PI / 12)))) + (hour % 7));
    const conversionId = await requestConversion(system.api, producer, { annualCertificateId: annual.certificateId, profile: { kind: "hourly", valuesWh } });
    const done = await waitForConversion(system.api, producer, conversionId);
    expect(done.counts.hours).toBe(8784);
    expect(done.validation.valid).toBe(true);
    const shares = await quantities(annual.certificateId);
    expect(shares).toHaveLength(8784);
    expect(shares.reduce((sum, share) => sum + share, 0)).toBe(987_654_321_987);
    expect(followsProfile(shares, 987_654_321_987, valuesWh)).toBe(true);
    expect((await system.api.get(`/v1/certificates/${annual.certificateId}-h8783`, producer)).body.periodStart).toBe("2024-12-31T23:00:00.000Z");
  });

  it("converts a CSV upload in kWh (unit column, header, any order) following its proportions", async () => {
    const annual = await cancelledAnnual(system.api, producer, { quantityWh: 50_000_000 });
    const kwh = (hour: number) => ((hour % 24) * 0.125 + 0.001).toFixed(3);
    const rows = hoursOf(2025).map((timestamp, hour) => `${timestamp},${kwh(hour)},kWh`);
    const csv = ["timestamp,value,unit", ...rows.reverse()].join("\r\n");
    const accepted = await postCsv(system.api, producer, `annualCertificateId=${annual.certificateId}`, csv);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const done = await waitForConversion(system.api, producer, accepted.body.conversionId);
    expect(done.profile).toEqual({ kind: "csv", unit: "kWh" });
    const weights = hoursOf(2025).map((_, hour) => Math.round(Number(kwh(hour)) * 1000));
    const shares = await quantities(annual.certificateId);
    expect(shares.reduce((sum, share) => sum + share, 0)).toBe(50_000_000);
    expect(followsProfile(shares, 50_000_000, weights)).toBe(true);
  });

  it("refuses every bad CSV with 400 naming the row, and converts nothing", async () => {
    const annual = await cancelledAnnual(system.api, producer);
    const good = hoursOf(2025).map((timestamp) => `${timestamp},1.5`);
    const edit = (change: (rows: string[]) => string[]) => change([...good]).join("\n");
    const cases: Array<[string, string, RegExp]> = [
      ["duplicate timestamp", edit((rows) => rows.map((row, i) => (i === 16 ? rows[15]! : row))), /^row 17: timestamp 2025-01-01T15:00:00Z repeats row 16/],
      ["gap", edit((rows) => rows.filter((_, i) => i !== 100)), /^row 100: gap after this row: no row for hour 2025-01-05T04:00:00Z/],
      ["wrong hour count", edit((rows) => rows.slice(0, 8000)), /^row 8000: gap after this row: no rows for the 760 hours .* \(8000 rows for the 8760 hours of 2025\)/],
      ["negative value", edit((rows) => rows.map((row, i) => (i === 41 ? "2025-01-02T17:00:00Z,-2" : row))), /^row 42: value -2 is negative/],
      ["not a number", edit((rows) => rows.map((row, i) => (i === 7 ? "2025-01-01T07:00:00Z,n/a" : row))), /^row 8: value "n\/a" is not a decimal number/],
      ["finer than 1 Wh", edit((rows) => rows.map((row, i) => (i === 3 ? "2025-01-01T03:00:00Z,1.0005" : row))), /^row 4: value 1.0005 kWh has more than 3 decimals/],
      ["all zeros", good.map((row) => row.replace(",1.5", ",0")).join("\n"), /^rows 1-8760: every value is zero/],
      ["outside the year", edit((rows) => rows.map((row, i) => (i === 0 ? "2024-12-31T23:00:00Z,1" : row))), /^row 1: timestamp 2024-12-31T23:00:00Z is outside 2025/],
      ["no offset", edit((rows) => rows.map((row, i) => (i === 9 ? "2025-01-01T09:00:00,1" : row))), /^row 10: timestamp "2025-01-01T09:00:00" has no UTC offset/],
      ["bad header", ["when,value", ...good].join("\n"), /^row 1: unknown or repeated column "when"/],
    ];
    for (const [name, csv, expected] of cases) {
      const response = await postCsv(system.api, producer, `annualCertificateId=${annual.certificateId}&unit=kWh`, csv);
      expect(response.status, name).toBe(400);
      expect(response.body.code, name).toBe("validation_failed");
      expect(response.body.detail, name).toMatch(expected);
      expect(response.body.errors[0].path, name).toMatch(/^rows? \d+/);
    }
    const missing = await postCsv(system.api, producer, "unit=kWh", good.join("\n"));
    expect(missing.status).toBe(400);
    expect(missing.body.detail).toMatch(/^annualCertificateId:/);
    expect((await postCsv(system.api, producer, `annualCertificateId=${annual.certificateId}&unit=GWh`, good.join("\n"))).status).toBe(400);
    const short = await system.api.post("/v1/conversions", { annualCertificateId: annual.certificateId, profile: { kind: "hourly", valuesWh: [1, 2, 3] } }, producer);
    expect(short.status).toBe(400);
    expect(short.body.detail).toBe("profile.valuesWh: expected 8760 values, one per UTC hour of 2025, got 3");
    const negative = new Array(8760).fill(5);
    negative[5000] = -1;
    const refused = await system.api.post("/v1/conversions", { annualCertificateId: annual.certificateId, profile: { kind: "hourly", valuesWh: negative } }, producer);
    expect(refused.body.detail).toBe("profile.valuesWh.5000: hour 2025-07-28T08:00:00Z: -1 is negative");
    const xml = await system.api.request("POST", "/v1/conversions", { token: producer, rawBody: "<x/>", headers: { "content-type": "application/xml" } });
    expect(xml.status).toBe(415);
    expect((await hourlyRows(annual.certificateId)).count).toBe(0);
    expect((await system.api.get(`/v1/certificates/${annual.certificateId}`, producer)).body).toMatchObject({ version: 2, conversionId: null });
  });
});

describe("which certificates convert", () => {
  it("only a cancelled annual certificate: active is 409, hourly is 422, unknown is 404", async () => {
    const active = await registerAnnual(system.api, producer);
    const refused = await system.api.post("/v1/conversions", { annualCertificateId: active.certificateId, profile: { kind: "uniform" } }, producer);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain("only a cancelled annual certificate converts");
    const unknown = await system.api.post("/v1/conversions", { annualCertificateId: "no-such-certificate", profile: { kind: "uniform" } }, producer);
    expect(unknown.status).toBe(404);

    const annual = await cancelledAnnual(system.api, producer, { quantityWh: 8760 });
    await waitForConversion(system.api, producer, await requestConversion(system.api, producer, { annualCertificateId: annual.certificateId, profile: { kind: "uniform" } }));
    const hourly = await system.api.post("/v1/conversions", { annualCertificateId: `${annual.certificateId}-h0001`, profile: { kind: "uniform" } }, producer);
    expect(hourly.status).toBe(422);
    expect((await system.api.get("/v1/conversions/01a20090-0000-7000-8000-0000000000ff", ADMIN_TOKEN)).status).toBe(404);
    expect((await system.api.get("/v1/conversions/not-a-uuid", ADMIN_TOKEN)).status).toBe(400);
  });
});
