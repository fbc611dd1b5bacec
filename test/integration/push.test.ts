import { HTTP } from "cloudevents";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN, isolation, startTestSystem, type TestSystem } from "../support/system.js";
import { createProducer, issued, unique } from "../support/fixtures.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { expectOneHeadPerSubject } from "../support/ledger.js";

const PUSH_ENV = {
  CERTFLOW_PUSH_ALLOW_PRIVATE: "true",
  CERTFLOW_PUSH_RETRY_SCHEDULE: "0,1,1,1,1",
  CERTFLOW_PUSH_TIMEOUT_SECONDS: "1",
  CERTFLOW_PUSH_RETRY_AFTER_MAX_SECONDS: "2",
};

let system: TestSystem | undefined;
const receivers: Receiver[] = [];

afterEach(async () => {
  await system?.destroy();
  system = undefined;
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

async function receiver(reply?: Parameters<typeof startReceiver>[0]) {
  const started = await startReceiver(reply);
  receivers.push(started);
  return started;
}

async function pushSubscription(api: TestSystem["api"], url: string, extra: Record<string, unknown> = {}) {
  const name = unique("push");
  const response = await api.post(
    "/v1/subscriptions",
    { name, filters: [{ types: ["*"] }], delivery: { mode: "push", url, ...extra } },
    ADMIN_TOKEN,
  );
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return { name, token: response.body.token as string, secret: response.body.secret as string, body: response.body };
}

/** Push pumps of the process acting on `status`, from /metrics. */
async function pumps(api: TestSystem["api"], status: string): Promise<number> {
  const metrics = (await api.get("/metrics")).body as string;
  return Number(new RegExp(`^certflow_push_pumps\\{status="${status}"\\} (\\S+)$`, "m").exec(metrics)?.[1] ?? 0);
}

function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = "condition") {
  return eventually(condition, { timeoutMs, what });
}


describe("push delivery", () => {
  it("delivers everything, signed (verified by standardwebhooks), in per-subject order, each webhook-id once", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    const endpoint = await receiver();
    const subscription = await pushSubscription(system.api, endpoint.url);
    expect(subscription.secret).toMatch(/^whsec_/);
    expect(subscription.body.subscription.delivery).toEqual({ mode: "push", url: endpoint.url, format: "envelope" });
    const producer = await createProducer(system.api);
    const subjects = 20;
    const versions = 10;
    for (let version = 1; version <= versions; version++) {
      const notifications = Array.from({ length: subjects }, (_, s) => issued(`cert-${s}`, { version }));
      expect((await system.api.post("/v1/notifications/batch", { notifications }, producer)).status).toBe(202);
    }
    // Each subject's last version is its sentinel: a repeated delivery of an earlier one would come before it.
    const lastArrived = () =>
      new Set(endpoint.requests.map((request) => JSON.parse(request.body)).filter((n) => n.data.version === versions).map((n) => n.subject)).size;
    await until(() => lastArrived() === subjects, 30_000, "every subject's last version");

    const verifier = new Webhook(subscription.secret);
    const seen = new Set<string>();
    const lastVersion = new Map<string, number>();
    for (const request of endpoint.requests) {
      expect(() => verifier.verify(request.body, request.headers)).not.toThrow();
      expect(request.headers["content-type"]).toBe("application/json");
      expect(request.headers["user-agent"]).toMatch(/^certflow\//);
      const notification = JSON.parse(request.body);
      expect(request.headers["webhook-id"]).toBe(notification.id);
      expect(seen.has(notification.id), "webhook-id twice").toBe(false);
      seen.add(notification.id);
      expect(notification.data.version).toBeGreaterThan(lastVersion.get(notification.subject) ?? 0);
      lastVersion.set(notification.subject, notification.data.version);
    }
    expect(seen.size).toBe(subjects * versions);
    const tampered = { ...endpoint.requests[0]!.headers };
    expect(() => verifier.verify(endpoint.requests[0]!.body.replace("cert", "cart"), tampered)).toThrow();

    await eventually(async () => {
      const described = await system!.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
      expect(described.body.stats).toMatchObject({ pending: 0, acked: subjects * versions, deadLettered: 0 });
    });
    await expectOneHeadPerSubject(system!.db);
  });

  it("retries 500s, then honours 429 Retry-After, and gets everything in the end", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    const endpoint = await receiver((_, index) => {
      if (index < 2) return { status: 500, body: "database down" };
      if (index < 3) return { status: 429, headers: { "retry-after": "1" } };
      return { status: 200 };
    });
    const subscription = await pushSubscription(system.api, endpoint.url);
    const producer = await createProducer(system.api);
    const posted = await system.api.post("/v1/notifications", issued("cert-1"), producer);
    await until(() => endpoint.requests.length >= 4, 20_000, "four attempts");
    const ids = new Set(endpoint.requests.map((request) => request.headers["webhook-id"]));
    expect(ids).toEqual(new Set([posted.body.id]));
    const attempts = endpoint.requests.map((request) => Number(request.headers["certflow-attempt"]));
    expect(attempts).toEqual([1, 2, 3, 4]);
    // Retry-After: 1 was honoured before the fourth attempt.
    expect(endpoint.requests[3]!.receivedAt - endpoint.requests[2]!.receivedAt).toBeGreaterThanOrEqual(900);

    await until(async () => (await system!.api.get(`/v1/subscriptions/${subscription.name}/deliveries`, subscription.token)).body.data.length >= 4);
    const log = await system.api.get(`/v1/subscriptions/${subscription.name}/deliveries?limit=10`, ADMIN_TOKEN);
    expect(log.body.data.map((attempt: { statusCode: number }) => attempt.statusCode)).toEqual([200, 429, 500, 500]);
    expect(log.body.data[3]).toMatchObject({ outcome: "failed", attempt: 1, error: "HTTP 500: database down", webhookId: posted.body.id });
    const failures = await system.api.get(`/v1/subscriptions/${subscription.name}/deliveries?status=failed&limit=2`, ADMIN_TOKEN);
    expect(failures.body.data).toHaveLength(2);
    const next = await system.api.get(`/v1/subscriptions/${subscription.name}/deliveries?status=failed&limit=2&cursor=${failures.body.nextCursor}`, ADMIN_TOKEN);
    expect(next.body.data).toHaveLength(1);
  });

  it("dead-letters after the last attempt, and a redrive delivers once the endpoint recovers", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    let healthy = false;
    const endpoint = await receiver(() => (healthy ? { status: 200 } : { status: 503 }));
    const subscription = await pushSubscription(system.api, endpoint.url);
    const producer = await createProducer(system.api);
    const posted = await system.api.post("/v1/notifications", issued("cert-1"), producer);
    await until(async () => (await system!.api.get(`/v1/subscriptions/${subscription.name}/dead-letters`, ADMIN_TOKEN)).body.deadLetters.length === 1, 20_000, "dead letter");
    expect(endpoint.requests).toHaveLength(5);
    const dead = (await system.api.get(`/v1/subscriptions/${subscription.name}/dead-letters`, ADMIN_TOKEN)).body.deadLetters[0];
    expect(dead).toMatchObject({ reason: "max_deliveries", deliveryCount: 5, notification: { id: posted.body.id } });

    healthy = true;
    const redriven = await system.api.post(`/v1/subscriptions/${subscription.name}/dead-letters/redrive`, {}, ADMIN_TOKEN);
    expect(redriven.body).toEqual({ redriven: 1 });
    await until(() => endpoint.requests.length === 6, 10_000, "redriven delivery");
    expect(endpoint.requests[5]!.headers["webhook-id"]).toBe(posted.body.id);
    await until(async () => (await system!.api.get(`/v1/subscriptions/${subscription.name}`, ADMIN_TOKEN)).body.stats.deadLettered === 0);
  });

  it("disables the subscription on 410 Gone, and says why", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    const endpoint = await receiver(() => ({ status: 410 }));
    const subscription = await pushSubscription(system.api, endpoint.url);
    const producer = await createProducer(system.api);
    await system.api.post("/v1/notifications", issued("cert-1"), producer);
    await until(async () => (await system!.api.get(`/v1/subscriptions/${subscription.name}`, ADMIN_TOKEN)).body.status === "disabled");
    const described = await system.api.get(`/v1/subscriptions/${subscription.name}`, ADMIN_TOKEN);
    expect(described.body.statusReason).toContain("410");
    // The refused attempt is recorded once it has settled; the message then waits for the subscription.
    await until(async () => (await system!.api.get(`/v1/subscriptions/${subscription.name}/deliveries`, ADMIN_TOKEN)).body.data.length === 1);
    expect(endpoint.requests).toHaveLength(1);

    // Enabled again (the endpoint is back), the waiting message goes out.
    endpoint.reply = () => ({ status: 200 });
    expect((await system.api.patch(`/v1/subscriptions/${subscription.name}`, { status: "active" }, ADMIN_TOKEN)).body.status).toBe("active");
    await until(() => endpoint.requests.length === 2, 10_000, "delivery after re-enabling");
  });

  it("disables a subscription whose endpoint only failed for the configured period", async () => {
    system = await startTestSystem({ env: { ...PUSH_ENV, CERTFLOW_PUSH_RETRY_SCHEDULE: "0,1,1,1,1,1,1,1", CERTFLOW_PUSH_DISABLE_AFTER_SECONDS: "2" } });
    const endpoint = await receiver(() => ({ status: 500 }));
    const subscription = await pushSubscription(system.api, endpoint.url);
    const producer = await createProducer(system.api);
    await system.api.post("/v1/notifications", issued("cert-1"), producer);
    await until(async () => (await system!.api.get(`/v1/subscriptions/${subscription.name}`, ADMIN_TOKEN)).body.status === "disabled", 20_000, "disabled");
    const described = await system.api.get(`/v1/subscriptions/${subscription.name}`, ADMIN_TOKEN);
    expect(described.body.statusReason).toMatch(/^every attempt has failed since \d{4}-/);
    expect(endpoint.requests.length).toBeGreaterThanOrEqual(3);
  });

  it("times out a hanging endpoint without holding up another subscription", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    const hanging = await receiver(() => "hang");
    const healthy = await receiver();
    const stuck = await pushSubscription(system.api, hanging.url);
    await pushSubscription(system.api, healthy.url);
    const producer = await createProducer(system.api);
    const started = Date.now();
    for (let i = 0; i < 30; i++) await system.api.post("/v1/notifications", issued(`cert-${i}`), producer);
    await until(() => healthy.requests.length === 30, 10_000, "the healthy endpoint");
    expect(Date.now() - started).toBeLessThan(10_000);
    await until(async () => (await system!.api.get(`/v1/subscriptions/${stuck.name}/deliveries?status=failed`, ADMIN_TOKEN)).body.data.length > 0);
    const log = await system.api.get(`/v1/subscriptions/${stuck.name}/deliveries?status=failed`, ADMIN_TOKEN);
    expect(log.body.data[0].error).toContain("no response within 1 s");
  });

  it("sends structured CloudEvents that the cloudevents SDK parses", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    const endpoint = await receiver();
    const subscription = await pushSubscription(system.api, endpoint.url, { format: "cloudevents" });
    const producer = await createProducer(system.api, "registry-dk");
    const parent = await system.api.post("/v1/notifications", issued("cert-1"), producer);
    const child = await system.api.post("/v1/notifications", issued("cert-1", { version: 2 }, { type: "certificate.transferred", data: { ...issued("cert-1").data, version: 2, owner: "b", previousOwner: "owner-a" }, parentId: parent.body.id }), producer);
    await until(() => endpoint.requests.length === 2);
    const request = endpoint.requests[1]!;
    expect(request.headers["content-type"]).toBe("application/cloudevents+json");
    expect(() => new Webhook(subscription.secret).verify(request.body, request.headers)).not.toThrow();
    const event = HTTP.toEvent({ headers: request.headers, body: request.body }) as unknown as Record<string, unknown>;
    expect(event).toMatchObject({
      specversion: "1.0",
      id: child.body.id,
      type: "certificate.transferred",
      source: "/certflow/sources/registry-dk",
      subject: "cert-1",
      datacontenttype: "application/json",
      parentid: parent.body.id,
      correlationid: parent.body.id,
    });
    expect((event.data as { owner: string }).owner).toBe("b");
  });

  it("signs with both secrets while a rotated secret is in its grace period", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    const endpoint = await receiver();
    const subscription = await pushSubscription(system.api, endpoint.url);
    const rotated = await system.api.post(`/v1/subscriptions/${subscription.name}/secret`, {}, ADMIN_TOKEN);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(subscription.secret);
    const producer = await createProducer(system.api);
    // The pump takes up the new secret on its next reload: deliveries are signed with both from then on.
    let version = 0;
    const request = await eventually(
      async () => {
        const posted = await system!.api.post("/v1/notifications", issued("cert-1", { version: ++version }), producer);
        const delivered = await until(() => endpoint.requests.some((r) => r.headers["webhook-id"] === posted.body.id), 10_000, "the delivery").then(
          () => endpoint.requests.find((r) => r.headers["webhook-id"] === posted.body.id)!,
        );
        expect(delivered.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
        return delivered;
      },
      { timeoutMs: 15_000 },
    );
    expect(() => new Webhook(rotated.body.secret).verify(request.body, request.headers)).not.toThrow();
    expect(() => new Webhook(subscription.secret).verify(request.body, request.headers)).not.toThrow();
    const pull = await system.api.post(`/v1/subscriptions/${subscription.name}/secret`, { secret: "nope" }, ADMIN_TOKEN);
    expect(pull.status).toBe(400);
    expect(pull.body.detail).toContain("secret");
  });

  it("pauses, resumes and moves to a new URL", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    const first = await receiver();
    const second = await receiver();
    const subscription = await pushSubscription(system.api, first.url);
    const producer = await createProducer(system.api);
    await system.api.patch(`/v1/subscriptions/${subscription.name}`, { status: "paused" }, ADMIN_TOKEN);
    await until(async () => (await pumps(system!.api, "paused")) === 1, 10_000, "the pump to pause");
    await system.api.post("/v1/notifications", issued("cert-1"), producer);
    // Queued but, the pump being paused, not sent.
    await until(async () => (await system!.api.get(`/v1/subscriptions/${subscription.name}`, ADMIN_TOKEN)).body.stats.pending === 1);
    expect(first.requests).toHaveLength(0);
    const moved = await system.api.patch(`/v1/subscriptions/${subscription.name}`, { delivery: { mode: "push", url: second.url }, status: "active" }, ADMIN_TOKEN);
    expect(moved.status).toBe(200);
    await until(() => second.requests.length === 1, 10_000, "delivery to the new URL");
    expect(first.requests).toHaveLength(0);
    const refused = await system.api.patch(`/v1/subscriptions/${subscription.name}`, { delivery: { mode: "pull" } }, ADMIN_TOKEN);
    expect(refused.status).toBe(422);
  });

  it("accepts the identical push request again (200) and refuses another under the same name (409)", async () => {
    system = await startTestSystem({ env: PUSH_ENV });
    const endpoint = await receiver();
    const body = { name: "hooks", filters: [{ types: ["*"] }], delivery: { mode: "push", url: endpoint.url } };
    expect((await system.api.post("/v1/subscriptions", body, ADMIN_TOKEN)).status).toBe(201);
    const again = await system.api.post("/v1/subscriptions", body, ADMIN_TOKEN);
    expect(again.status).toBe(200);
    expect(again.body.secret).toBeUndefined();
    const other = await system.api.post("/v1/subscriptions", { ...body, delivery: { mode: "push", url: endpoint.url, format: "cloudevents" } }, ADMIN_TOKEN);
    expect(other.status).toBe(409);
    const badUrl = await system.api.post("/v1/subscriptions", { ...body, name: "x", delivery: { mode: "push", url: "ftp://x" } }, ADMIN_TOKEN);
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.detail).toContain("delivery.url");
    const badSecret = await system.api.post("/v1/subscriptions", { ...body, name: "y", delivery: { mode: "push", url: endpoint.url, secret: "whsec_short" } }, ADMIN_TOKEN);
    expect(badSecret.status).toBe(400);
    expect(badSecret.body.detail).toContain("delivery.secret");
  });
});

describe("push safety", () => {
  it("refuses loopback, private, link-local and metadata addresses at registration", async () => {
    system = await startTestSystem();
    for (const url of [
      "http://127.0.0.1:9/hook",
      "http://localhost:9/hook",
      "http://10.1.2.3/hook",
      "http://192.168.1.1/hook",
      "http://169.254.169.254/latest/meta-data",
      "http://[::1]/hook",
      "http://[::ffff:127.0.0.1]/hook",
    ]) {
      const response = await system.api.post(
        "/v1/subscriptions",
        { name: unique("unsafe"), filters: [{ types: ["*"] }], delivery: { mode: "push", url } },
        ADMIN_TOKEN,
      );
      expect(response.status, url).toBe(400);
      expect(response.body.detail, url).toMatch(/^delivery\.url: .*(loopback, private or link-local|does not resolve)/);
    }
  });

  it("refuses them again at delivery time", async () => {
    const iso = isolation();
    const endpoint = await receiver();
    // Registered while private addresses were allowed...
    const permissive = await startTestSystem({ isolation: iso, env: PUSH_ENV });
    const subscription = await pushSubscription(permissive.api, endpoint.url);
    const producer = await createProducer(permissive.api);
    await permissive.stop();
    // ...then the configuration no longer allows them.
    system = await startTestSystem({ isolation: iso, env: { ...PUSH_ENV, CERTFLOW_PUSH_ALLOW_PRIVATE: "false" } });
    await system.api.post("/v1/notifications", issued("cert-1"), producer);
    await until(async () => (await system!.api.get(`/v1/subscriptions/${subscription.name}/deliveries`, ADMIN_TOKEN)).body.data.length > 0);
    const log = await system.api.get(`/v1/subscriptions/${subscription.name}/deliveries`, ADMIN_TOKEN);
    expect(log.body.data[0]).toMatchObject({ outcome: "failed", statusCode: null });
    expect(log.body.data[0].error).toMatch(/^refused: /);
    expect(endpoint.requests).toHaveLength(0);
    await permissive.db.destroy();
  });
});
