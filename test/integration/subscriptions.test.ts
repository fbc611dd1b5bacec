import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { sql } from "kysely";
import { eventually } from "../support/eventually.js";
import { createProducer, createSubscription, drain, issued, publish, unique } from "../support/fixtures.js";

let system: TestSystem;

beforeEach(async () => {
  system = await startTestSystem();
});
afterEach(() => system.destroy());

const spec = (name: string) => ({
  name,
  description: "grid operator DK1",
  filters: [{ types: ["certificate.issued", "certificate.cancelled"], where: { gridArea: ["DK1"] } }],
});

describe("POST /v1/subscriptions", () => {
  it("creates with 201 and a token, answers the identical request with 200, a different one with 409", async () => {
    const created = await system.api.post("/v1/subscriptions", spec("dk1"), ADMIN_TOKEN);
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^cfs_/);
    expect(created.body.subscription).toMatchObject({
      name: "dk1",
      status: "active",
      delivery: { mode: "pull" },
      prefill: { enabled: false, status: "done" },
      ackTimeoutSeconds: 30,
      maxDeliveries: 5,
    });

    // Same request, keys in another order: same subscription, no token shown again.
    const again = await system.api.post(
      "/v1/subscriptions",
      { filters: spec("dk1").filters, description: "grid operator DK1", name: "dk1" },
      ADMIN_TOKEN,
    );
    expect(again.status).toBe(200);
    expect(again.body.subscription.id).toBe(created.body.subscription.id);
    expect(again.body.token).toBeUndefined();

    const different = await system.api.post("/v1/subscriptions", { ...spec("dk1"), filters: [{ types: ["*"] }] }, ADMIN_TOKEN);
    expect(different.status).toBe(409);
    expect(different.headers.get("content-type")).toContain("application/problem+json");
    expect(different.body).toMatchObject({ code: "conflict", status: 409 });
  });

  it("names the offending field for bad input", async () => {
    const cases: Array<[unknown, string]> = [
      [{ ...spec("x"), name: "bad name!" }, "name"],
      [{ ...spec("x"), filters: [] }, "filters"],
      [{ ...spec("x"), filters: [{ types: ["certificate.unknown"] }] }, "filters.0.types.0"],
      [{ ...spec("x"), filters: [{ types: ["*"], where: { color: ["red"] } }] }, "filters.0.where"],
      [{ ...spec("x"), delivery: { mode: "carrier-pigeon" } }, "delivery"],
      [{ ...spec("x"), ackTimeoutSeconds: 0 }, "ackTimeoutSeconds"],
      [{ ...spec("x"), unexpected: true }, "unexpected"],
    ];
    for (const [body, field] of cases) {
      const response = await system.api.post("/v1/subscriptions", body, ADMIN_TOKEN);
      expect(response.status, field).toBe(400);
      expect(response.body.code).toBe("validation_failed");
      expect(response.body.detail, field).toContain(field);
    }
  });

  it("refuses a body that is not JSON", async () => {
    const malformed = await system.api.request("POST", "/v1/subscriptions", {
      token: ADMIN_TOKEN,
      rawBody: "{not json",
      headers: { "content-type": "application/json" },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe("invalid_json");
    const wrongType = await system.api.request("POST", "/v1/subscriptions", {
      token: ADMIN_TOKEN,
      rawBody: "name=x",
      headers: { "content-type": "text/plain" },
    });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.code).toBe("unsupported_media_type");
  });
});

describe("GET, PATCH, DELETE /v1/subscriptions", () => {
  it("describes a subscription with prefill progress and queue statistics", async () => {
    const producer = await createProducer(system.api);
    const subscription = await createSubscription(system.api, spec("dk1"));
    await publish(system.api, producer, issued("c-1"));
    await publish(system.api, producer, issued("c-2"));
    await publish(system.api, producer, issued("c-3", { gridArea: "DK2" }));
    await drain(system.api, subscription.name, subscription.token, 2);
    const described = await system.api.get("/v1/subscriptions/dk1", subscription.token);
    expect(described.status).toBe(200);
    expect(described.body).toMatchObject({
      name: "dk1",
      prefill: { enabled: false, status: "done", total: 0, sent: 0 },
      stats: { pending: 0, acked: 2, deadLettered: 0, oldestPendingAt: null },
    });
  });

  it("lists with cursor pagination", async () => {
    for (const name of ["a-sub", "b-sub", "c-sub"]) await createSubscription(system.api, { name });
    const first = await system.api.get("/v1/subscriptions?limit=2", ADMIN_TOKEN);
    expect(first.body.data.map((s: { name: string }) => s.name)).toEqual(["a-sub", "b-sub"]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await system.api.get(`/v1/subscriptions?limit=2&cursor=${first.body.nextCursor}`, ADMIN_TOKEN);
    expect(second.body.data.map((s: { name: string }) => s.name)).toEqual(["c-sub"]);
    expect(second.body.nextCursor).toBeNull();
    const bad = await system.api.get("/v1/subscriptions?cursor=garbage", ADMIN_TOKEN);
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("cursor");
  });

  it("patches filters (routing follows at once), pauses and resumes", async () => {
    const producer = await createProducer(system.api);
    const subscription = await createSubscription(system.api, spec("dk1"));
    const patched = await system.api.patch("/v1/subscriptions/dk1", { filters: [{ types: ["*"], where: { gridArea: ["DK2"] } }] }, ADMIN_TOKEN);
    expect(patched.status).toBe(200);
    expect(patched.body.filters).toEqual([{ types: ["*"], where: { gridArea: ["DK2"] } }]);
    await publish(system.api, producer, issued("c-1", { gridArea: "DK1" }));
    await publish(system.api, producer, issued("c-2", { gridArea: "DK2" }));
    const received = await drain(system.api, subscription.name, subscription.token, 1);
    expect(received.map((m) => m.notification.subject)).toEqual(["c-2"]);

    const paused = await system.api.patch("/v1/subscriptions/dk1", { status: "paused" }, ADMIN_TOKEN);
    expect(paused.body.status).toBe("paused");
    const refused = await system.api.get("/v1/subscriptions/dk1/messages", subscription.token);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain("paused");
    const resumed = await system.api.patch("/v1/subscriptions/dk1", { status: "active" }, ADMIN_TOKEN);
    expect(resumed.body.status).toBe("active");

    const empty = await system.api.patch("/v1/subscriptions/dk1", {}, ADMIN_TOKEN);
    expect(empty.status).toBe(400);
  });

  it("deletes with the admin or its own token; the token then stops working", async () => {
    const subscription = await createSubscription(system.api, spec("dk1"));
    const deleted = await system.api.delete("/v1/subscriptions/dk1", subscription.token);
    expect(deleted.status).toBe(204);
    const after = await system.api.get("/v1/subscriptions/dk1", subscription.token);
    expect(after.status).toBe(401);
    const missing = await system.api.delete("/v1/subscriptions/dk1", ADMIN_TOKEN);
    expect(missing.status).toBe(404);
  });

  it("rotates a token: the new one works, the old one does not", async () => {
    const subscription = await createSubscription(system.api, spec("dk1"));
    const rotated = await system.api.post("/v1/subscriptions/dk1/token", undefined, ADMIN_TOKEN);
    expect(rotated.status).toBe(200);
    expect((await system.api.get("/v1/subscriptions/dk1", rotated.body.token)).status).toBe(200);
    expect((await system.api.get("/v1/subscriptions/dk1", subscription.token)).status).toBe(401);
  });

  it("a re-created subscription is not reachable with the token of the deleted one", async () => {
    const old = await createSubscription(system.api, { name: "dk1" });
    expect((await system.api.get("/v1/subscriptions/dk1", old.token)).status).toBe(200); // now cached
    await system.api.delete("/v1/subscriptions/dk1", ADMIN_TOKEN);
    await createSubscription(system.api, { name: "dk1" });
    const response = await system.api.get("/v1/subscriptions/dk1", old.token);
    expect([401, 403]).toContain(response.status);
  });
});

describe("deletion while notifications flow", () => {
  it("leaves none of the subscription's deliveries behind, whatever batch was being appended", async () => {
    const producer = await createProducer(system.api);
    const witness = await createSubscription(system.api);
    const doomed = await createSubscription(system.api);
    const deliveriesOf = async (id: string) =>
      (await sql<{ count: number }>`SELECT count(*)::int AS count FROM deliveries WHERE subscription_id = ${id}`.execute(system.db)).rows[0]!.count;
    let flowing = true;
    let posted = 0;
    const background = (async () => {
      for (let i = 0; flowing; i++) {
        const items = Array.from({ length: 50 }, (_, j) => issued(`del-${i}-${j}`));
        expect((await system.api.post("/v1/notifications/batch", { notifications: items }, producer)).status).toBe(202);
        posted += items.length;
      }
    })();
    try {
      await eventually(async () => (await deliveriesOf(doomed.id)) > 0, { what: "deliveries queued for the doomed subscription" });
      expect((await system.api.delete(`/v1/subscriptions/${doomed.name}`, ADMIN_TOKEN)).status).toBe(204);
    } finally {
      flowing = false;
      await background;
    }
    // Once the witness has every notification, every batch that could still carry one for the
    // deleted subscription (routed before the dispatcher saw the deletion) has been appended.
    await eventually(async () => (await deliveriesOf(witness.id)) === posted, { what: "every notification queued for the witness" });
    expect(await deliveriesOf(doomed.id)).toBe(0);
  });
});

describe("new-subscription race", () => {
  it("delivers every notification posted after the 201, without a pause in between", async () => {
    const producer = await createProducer(system.api);
    // Keep traffic flowing while subscriptions are created, as in production.
    let flowing = true;
    const background = (async () => {
      let i = 0;
      while (flowing) await system.api.post("/v1/notifications", issued(`bg-${i++ % 50}`), producer);
    })();
    try {
      for (let round = 0; round < 5; round++) {
        const name = unique("race");
        const created = await system.api.post("/v1/subscriptions", { name, filters: [{ types: ["*"], where: { owner: [name] } }] }, ADMIN_TOKEN);
        expect(created.status).toBe(201);
        const posted = await publish(system.api, producer, issued(`c-${round}`, { owner: name }));
        const received = await drain(system.api, name, created.body.token, 1, 10_000);
        expect(received.map((m) => m.notification.id)).toEqual([posted.id]);
      }
    } finally {
      flowing = false;
      await background;
    }
  });
});
