import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { issued } from "../support/fixtures.js";

let system: TestSystem;

beforeEach(async () => {
  system = await startTestSystem();
});
afterEach(() => system.destroy());

describe("producers", () => {
  it("registers a producer, shows its token once, refuses the name twice", async () => {
    const created = await system.api.post("/v1/producers", { name: "registry-dk", description: "Energinet" }, ADMIN_TOKEN);
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^cfp_[A-Za-z0-9_-]{43}$/);
    expect(created.body.producer).toMatchObject({ name: "registry-dk", description: "Energinet" });
    const stored = await system.db.selectFrom("producers").select("token_hash").executeTakeFirstOrThrow();
    expect(stored.token_hash).not.toContain(created.body.token);
    expect(stored.token_hash).toMatch(/^[0-9a-f]{64}$/);

    const again = await system.api.post("/v1/producers", { name: "registry-dk" }, ADMIN_TOKEN);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("conflict");
  });

  it("lists producers by name with a cursor", async () => {
    for (const name of ["b-reg", "a-reg", "c-reg"]) await system.api.post("/v1/producers", { name }, ADMIN_TOKEN);
    const first = await system.api.get("/v1/producers?limit=2", ADMIN_TOKEN);
    expect(first.body.data.map((p: { name: string }) => p.name)).toEqual(["a-reg", "b-reg"]);
    const second = await system.api.get(`/v1/producers?limit=2&cursor=${first.body.nextCursor}`, ADMIN_TOKEN);
    expect(second.body).toMatchObject({ data: [{ name: "c-reg" }], nextCursor: null });
  });

  it("revokes a producer: its token stops working", async () => {
    const created = await system.api.post("/v1/producers", { name: "registry-dk" }, ADMIN_TOKEN);
    expect((await system.api.post("/v1/notifications", issued("c-1"), created.body.token)).status).toBe(202);
    expect((await system.api.delete("/v1/producers/registry-dk", ADMIN_TOKEN)).status).toBe(204);
    expect((await system.api.post("/v1/notifications", issued("c-2"), created.body.token)).status).toBe(401);
    expect((await system.api.delete("/v1/producers/registry-dk", ADMIN_TOKEN)).status).toBe(404);
  });

  it("issues a new token for an existing producer: the new one works, the old one stops", async () => {
    const created = await system.api.post("/v1/producers", { name: "registry-dk" }, ADMIN_TOKEN);
    const rotated = await system.api.post("/v1/producers/registry-dk/token", undefined, ADMIN_TOKEN);
    expect(rotated.status).toBe(200);
    expect(rotated.body.token).toMatch(/^cfp_/);
    expect((await system.api.post("/v1/notifications", issued("c-1"), rotated.body.token)).status).toBe(202);
    expect((await system.api.post("/v1/notifications", issued("c-2"), created.body.token)).status).toBe(401);
    expect((await system.api.post("/v1/producers/nobody/token", undefined, ADMIN_TOKEN)).status).toBe(404);
  });

  it("names the field for bad input", async () => {
    const badName = await system.api.post("/v1/producers", { name: "has spaces" }, ADMIN_TOKEN);
    expect(badName.status).toBe(400);
    expect(badName.body.detail).toMatch(/^name: /);
    const missing = await system.api.post("/v1/producers", {}, ADMIN_TOKEN);
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0].path).toBe("name");
  });
});

describe("POST /v1/notifications input checks", () => {
  let producer: string;
  beforeEach(async () => {
    producer = (await system.api.post("/v1/producers", { name: "registry" }, ADMIN_TOKEN)).body.token;
  });

  const cases: Array<[string, unknown, string]> = [
    ["unknown type", { ...issued("c-1"), type: "certificate.exploded" }, "type"],
    ["snapshot is prefill-only", { ...issued("c-1"), type: "certificate.snapshot" }, "type"],
    ["missing subject", { type: "certificate.issued", data: issued("c-1").data }, "subject"],
    ["subject differs from the certificate", { ...issued("c-1"), subject: "c-2" }, "subject"],
    ["fractional watt-hours", issued("c-1", { quantityWh: 1.5 }), "data.quantityWh"],
    ["negative watt-hours", issued("c-1", { quantityWh: -1 }), "data.quantityWh"],
    ["unknown status", issued("c-1", { status: "lost" }), "data.status"],
    ["status contradicts the type", issued("c-1", { status: "cancelled" }), "data.status"],
    ["period ends before it starts", issued("c-1", { periodEnd: "2024-01-01T00:00:00Z" }), "data.periodEnd"],
    ["hourly without parent", issued("c-1", { kind: "hourly" }), "data.parentCertificateId"],
    ["bad id", { ...issued("c-1"), id: "not-a-uuid" }, "id"],
    ["bad time", { ...issued("c-1"), time: "yesterday" }, "time"],
    ["bad parentId", { ...issued("c-1"), parentId: "x" }, "parentId"],
    ["unknown envelope field", { ...issued("c-1"), colour: "green" }, "colour"],
    ["unknown data field", issued("c-1", { colour: "green" }), "data"],
    ["source name not ours", { ...issued("c-1"), source: { name: "other" } }, "source.name"],
  ];

  it.each(cases)("refuses %s, naming %s", async (_, body, field) => {
    const response = await system.api.post("/v1/notifications", body, producer);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.body.code).toBe("validation_failed");
    expect(response.body.detail.startsWith(field) || response.body.errors.some((e: { path: string }) => e.path.startsWith(field))).toBe(true);
  });

  it("accepts a time with an offset and stores it in UTC, and a producer-chosen source version", async () => {
    const response = await system.api.post(
      "/v1/notifications",
      { ...issued("c-1"), time: "2026-03-01T12:00:00+02:00", source: { name: "registry", version: "2.4" } },
      producer,
    );
    expect(response.status).toBe(202);
  });

  it("refuses a body too large with 413", async () => {
    const small = await startTestSystem({ env: { CERTFLOW_MAX_BODY_BYTES: "2048" } });
    try {
      const token = (await small.api.post("/v1/producers", { name: "registry" }, ADMIN_TOKEN)).body.token;
      const big = { notifications: Array.from({ length: 20 }, (_, i) => issued(`c-${i}`)) };
      const response = await small.api.post("/v1/notifications/batch", big, token);
      expect(response.status).toBe(413);
      expect(response.body.code).toBe("payload_too_large");
    } finally {
      await small.destroy();
    }
  });
});
