import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { createProducer, createSubscription, drain, unique } from "../support/fixtures.js";
import { commandEventId } from "../../src/certificates/commands/events.js";
import { annual, committed, getCertificate, registerAnnual, WAIT } from "../support/registry.js";

let system: TestSystem;
let producer: string;

// One system for the file: every test uses certificate ids of its own.
beforeAll(async () => {
  system = await startTestSystem();
  producer = await createProducer(system.api, "registry-a");
});
afterAll(() => system.destroy());

async function history(id: string, expected: number): Promise<any[]> {
  return eventually(async () => {
    const response = await system.api.get(`/v1/certificates/${id}/history`, ADMIN_TOKEN);
    expect(response.status).toBe(200);
    expect(response.body.notifications.length, `history of ${id}`).toBeGreaterThanOrEqual(expected);
    return response.body.notifications.map((entry: { notification: any }) => entry.notification);
  });
}

describe("POST /v1/certificates/annual", () => {
  it("registers an active annual certificate for a UTC calendar year and publishes certificate.issued", async () => {
    const body = annual({ year: 2024, quantityWh: 5_000_000 });
    const accepted = await system.api.post("/v1/certificates/annual", body, producer);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect(accepted.headers.get("location")).toBe(`/v1/commands/${accepted.body.commandId}`);
    expect(accepted.body).toMatchObject({ type: "issue", certificateId: body.id, txId: expect.any(String) });
    const command = await system.api.request("GET", `/v1/commands/${accepted.body.commandId}`, { token: producer });
    expect(command.status).toBe(200);
    await history(body.id, 1);
    const response = { body: await getCertificate(system.api, producer, body.id) };
    expect((await system.api.get(`/v1/commands/${accepted.body.commandId}`, producer)).body).toMatchObject({ state: "committed", txId: accepted.body.txId });
    expect(response.body).toMatchObject({
      certificateId: body.id,
      kind: "annual",
      periodStart: "2024-01-01T00:00:00.000Z",
      periodEnd: "2025-01-01T00:00:00.000Z",
      quantityWh: 5_000_000,
      owner: "owner-a",
      status: "active",
      version: 1,
      registeredBy: "registry-a",
      conversionId: null,
      settled: true,
    });
    expect(response.body).not.toHaveProperty("parentCertificateId");
    const [issued] = await history(body.id, 1);
    expect(issued).toMatchObject({
      type: "certificate.issued",
      subject: body.id,
      source: { name: "certflow-registry" },
      channel: "internal",
      parentId: commandEventId(accepted.body.commandId, "committed"),
      correlationId: accepted.body.commandId,
      data: { certificateId: body.id, kind: "annual", status: "active", version: 1, quantityWh: 5_000_000 },
    });
    expect((await system.api.get(`/v1/certificates/${body.id}`, ADMIN_TOKEN)).body).toEqual(response.body);
  });

  it("answers the same registration again with 200 and no new notification, other values under the same id with 409", async () => {
    const body = annual();
    await committed(system.api, producer, "/v1/certificates/annual", body);
    const again = await system.api.post("/v1/certificates/annual", body, ADMIN_TOKEN);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ certificateId: body.id, version: 1 });
    const different = await system.api.post("/v1/certificates/annual", { ...body, quantityWh: 7 }, producer);
    expect(different.status).toBe(409);
    expect(different.body).toMatchObject({ code: "conflict", detail: expect.stringContaining(body.id) });
    // A later change of the same certificate is the sentinel: once it is in the history, a second issue would be too.
    await committed(system.api, producer, `/v1/certificates/${body.id}/cancel`, { reason: "sentinel" });
    const changes = await history(body.id, 2);
    expect(changes.map((notification) => notification.type)).toEqual(["certificate.issued", "certificate.cancelled"]);
  });

  it("makes an id when none is given", async () => {
    const { id: _id, ...body } = annual();
    const response = await system.api.request("POST", "/v1/certificates/annual", { token: producer, body, headers: WAIT });
    expect(response.status).toBe(201);
    expect(response.body.certificateId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses bad registrations with 400 naming the field", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ year: 1999 }, "year"],
      [{ year: 2025.5 }, "year"],
      [{ quantityWh: 0 }, "quantityWh"],
      [{ quantityWh: 1.5 }, "quantityWh"],
      [{ owner: "has space" }, "owner"],
      [{ id: "x-h0001" }, "id"],
      [{ id: "a".repeat(125) }, "id"],
      [{ colour: "green" }, "colour"],
    ];
    for (const [override, field] of cases) {
      const response = await system.api.post("/v1/certificates/annual", annual(override), producer);
      expect(response.status, JSON.stringify(override)).toBe(400);
      expect(response.body.code).toBe("validation_failed");
      expect(response.body.detail.startsWith(`${field}:`), response.body.detail).toBe(true);
    }
  });
});

describe("POST /v1/certificates/{id}/cancel", () => {
  it("cancels an active certificate once, bumping the version and publishing certificate.cancelled in order", async () => {
    const certificate = await registerAnnual(system.api, producer);
    await committed(system.api, producer, `/v1/certificates/${certificate.certificateId}/cancel`, { reason: "to convert" });
    expect(await getCertificate(system.api, producer, certificate.certificateId)).toMatchObject({ status: "cancelled", version: 2 });
    const again = await system.api.post(`/v1/certificates/${certificate.certificateId}/cancel`, undefined, producer);
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain("is cancelled");
    const notifications = await history(certificate.certificateId, 2);
    expect(notifications.map((n: any) => [n.type, n.data.version])).toEqual([
      ["certificate.issued", 1],
      ["certificate.cancelled", 2],
    ]);
    expect(notifications[1].data).toMatchObject({ status: "cancelled", reason: "to convert" });
    expect((await system.api.post("/v1/certificates/nope/cancel", {}, producer)).status).toBe(404);
  });
});

describe("GET /v1/certificates", () => {
  it("filters by owner, status, kind, source, grid area and period, and pages with a cursor", async () => {
    const owner = unique("owner");
    const made = [];
    for (let index = 0; index < 5; index++) {
      made.push(
        await registerAnnual(system.api, producer, {
          id: `${owner}-c${index}`,
          owner,
          year: 2020 + index,
          energySource: index % 2 === 0 ? "wind" : "solar",
          gridArea: index < 3 ? "DK1" : "DK2",
        }),
      );
    }
    await committed(system.api, producer, `/v1/certificates/${owner}-c4/cancel`, {});
    const ids = async (query: string) => {
      const response = await system.api.get(`/v1/certificates?owner=${owner}&${query}`, producer);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body.data.map((certificate: { certificateId: string }) => certificate.certificateId.slice(owner.length + 1));
    };
    expect(await ids("")).toEqual(["c0", "c1", "c2", "c3", "c4"]);
    expect(await ids("energySource=solar")).toEqual(["c1", "c3"]);
    expect(await ids("gridArea=DK2&status=active")).toEqual(["c3"]);
    expect(await ids("status=cancelled")).toEqual(["c4"]);
    expect(await ids("kind=hourly")).toEqual([]);
    expect(await ids("periodFrom=2021-06-01T00:00:00Z&periodTo=2023-01-01T00:00:00Z")).toEqual(["c1", "c2"]);

    const first = await system.api.get(`/v1/certificates?owner=${owner}&limit=2`, producer);
    expect(first.body.data).toHaveLength(2);
    const second = await system.api.get(`/v1/certificates?owner=${owner}&limit=2&cursor=${first.body.nextCursor}`, producer);
    const third = await system.api.get(`/v1/certificates?owner=${owner}&limit=2&cursor=${second.body.nextCursor}`, producer);
    expect([...first.body.data, ...second.body.data, ...third.body.data].map((c: { certificateId: string }) => c.certificateId)).toEqual(
      made.map((certificate) => certificate.certificateId),
    );
    expect(third.body.nextCursor).toBeNull();
    expect((await system.api.get("/v1/certificates?status=sold", producer)).status).toBe(400);
    expect((await system.api.get("/v1/certificates?cursor=garbage", producer)).status).toBe(400);
    expect((await system.api.get("/v1/certificates/unknown-certificate", producer)).status).toBe(404);
  });
});

describe("GET /v1/certificates/{id}/validation", () => {
  it("names every check with its result for an unconverted certificate", async () => {
    const certificate = await registerAnnual(system.api, producer);
    const response = await system.api.get(`/v1/certificates/${certificate.certificateId}/validation`, producer);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ certificateId: certificate.certificateId, kind: "annual", valid: true });
    expect(response.body.checks.map((check: { name: string }) => check.name)).toEqual([
      "exactTotal",
      "hourCount",
      "year",
      "source",
      "parent",
      "noDuplicateHours",
      "uniqueIds",
      "status",
    ]);
    expect(response.body.checks.find((check: { name: string }) => check.name === "hourCount").result).toBe("skipped");
  });
});

describe("access", () => {
  it("lets admin and producer tokens in, refuses subscription tokens (403) and missing tokens (401)", async () => {
    const subscription = await createSubscription(system.api);
    const certificate = await registerAnnual(system.api, producer);
    const requests: Array<[string, string, unknown?]> = [
      ["POST", "/v1/certificates/annual", annual()],
      ["POST", `/v1/certificates/${certificate.certificateId}/cancel`, {}],
      ["GET", "/v1/certificates"],
      ["GET", `/v1/certificates/${certificate.certificateId}`],
      ["GET", `/v1/certificates/${certificate.certificateId}/validation`],
      ["POST", "/v1/conversions", { annualCertificateId: certificate.certificateId, profile: { kind: "uniform" } }],
      ["GET", "/v1/conversions/01a20080-76a0-760f-96b5-93af436a60af"],
      ["POST", "/v1/trades", { seller: "a", buyer: "b", certificateIds: ["x"] }],
      ["GET", "/v1/trades"],
      ["GET", "/v1/trades/01a20080-76a0-760f-96b5-93af436a60af"],
      ["GET", `/v1/certificates/${certificate.certificateId}/trades`],
      ["GET", "/v1/statistics"],
    ];
    for (const [method, path, body] of requests) {
      expect((await system.api.request(method, path, { token: subscription.token, body })).status, `${method} ${path}`).toBe(403);
      expect((await system.api.request(method, path, { body })).status, `${method} ${path}`).toBe(401);
    }
    expect((await system.api.get("/v1/statistics", producer)).status).toBe(200);
    expect((await system.api.get("/v1/statistics", ADMIN_TOKEN)).status).toBe(200);
    await drain(system.api, subscription.name, subscription.token, 0, 100);
  });

  it("documents the registry in the OpenAPI document", async () => {
    const document = await system.api.get("/openapi.json");
    const paths = Object.keys(document.body.paths);
    for (const path of [
      "/v1/certificates/annual",
      "/v1/certificates",
      "/v1/certificates/{id}",
      "/v1/certificates/{id}/cancel",
      "/v1/certificates/{id}/validation",
      "/v1/certificates/{id}/history",
      "/v1/certificates/{id}/trades",
      "/v1/conversions",
      "/v1/conversions/{id}",
      "/v1/trades",
      "/v1/trades/{id}",
      "/v1/statistics",
    ]) {
      expect(paths).toContain(path);
    }
    expect(Object.keys(document.body.paths["/v1/conversions"].post.requestBody.content)).toEqual(["application/json", "text/csv"]);
  });
});
