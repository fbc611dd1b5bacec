import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ack, createProducer, createSubscription, issued, pull, unique, type PulledMessage } from "../support/fixtures.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

const ENV = {
  CERTFLOW_PUSH_ALLOW_PRIVATE: "true",
  CERTFLOW_PUSH_RETRY_SCHEDULE: "0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1",
  CERTFLOW_PUSH_TIMEOUT_SECONDS: "2",
  CERTFLOW_PUSH_DISABLE_AFTER_SECONDS: "2",
};

let system: TestSystem | undefined;
let endpoint: Receiver | undefined;

afterEach(async () => {
  await system?.destroy();
  await endpoint?.close();
  system = undefined;
  endpoint = undefined;
});

/** Pulls and acks an operator's `subscription.*` messages until `done` says it has seen enough. */
async function operatorEvents(api: TestSystem["api"], operator: { name: string; token: string }, seen: PulledMessage[], done: () => boolean) {
  await eventually(
    async () => {
      const batch = await pull(api, operator.name, operator.token, "max=100&wait=1");
      seen.push(...batch);
      await ack(api, operator.name, operator.token, batch);
      expect(done()).toBe(true);
    },
    { timeoutMs: 30_000, what: "operational notifications" },
  );
}

describe("disabled push subscription", () => {
  it("keeps queueing while disabled; resume delivers everything once, in per-subject order, with the same webhook ids", async () => {
    system = await startTestSystem({ env: ENV });
    const { api } = system;
    let healthy = false;
    const delivered: Array<{ id: string; subject: string; version: number; webhookId: string }> = [];
    endpoint = await startReceiver((request) => {
      if (!healthy) return { status: 503 };
      const notification = JSON.parse(request.body);
      if (notification.subject === "sentinel") return { status: 410 };
      delivered.push({ id: notification.id, subject: notification.subject, version: notification.data.version, webhookId: request.headers["webhook-id"]! });
      return { status: 200 };
    });
    const operator = await createSubscription(api, { filters: [{ types: ["subscription.*"] }] });
    const name = unique("hook");
    const created = await api.post(
      "/v1/subscriptions",
      { name, filters: [{ types: ["certificate.*"] }], delivery: { mode: "push", url: endpoint.url } },
      ADMIN_TOKEN,
    );
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    const producer = await createProducer(api);

    const posted: Array<{ id: string; subject: string; version: number }> = [];
    const post = async (version: number) => {
      const notifications = Array.from({ length: 5 }, (_, s) => issued(`cert-${s}`, { version }));
      const response = await api.post("/v1/notifications/batch", { notifications }, producer);
      expect(response.status).toBe(202);
      response.body.results.forEach((result: { id: string }, s: number) => posted.push({ id: result.id, subject: `cert-${s}`, version }));
    };

    // The endpoint answers 503 until certflow gives up on it.
    await post(1);
    await eventually(async () => expect((await api.get(`/v1/subscriptions/${name}`, token)).body.status).toBe("disabled"), {
      timeoutMs: 30_000,
      what: "the subscription to be disabled",
    });
    const failedIds = new Set(endpoint.requests.map((request) => request.headers["webhook-id"]));

    // While disabled, everything posted still queues.
    for (let version = 2; version <= 4; version++) await post(version);
    await eventually(async () => expect((await api.get(`/v1/subscriptions/${name}`, token)).body.stats.pending).toBe(posted.length));

    healthy = true;
    const resumed = await api.post(`/v1/subscriptions/${name}/resume`, undefined, token);
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe("active");
    await eventually(() => expect(delivered).toHaveLength(posted.length), { timeoutMs: 30_000, what: "the backlog" });

    expect(new Set(delivered.map((item) => item.id))).toEqual(new Set(posted.map((item) => item.id)));
    expect(new Set(delivered.map((item) => item.id)).size).toBe(delivered.length);
    for (const item of delivered) expect(item.webhookId).toBe(item.id);
    for (const id of failedIds) expect(delivered.some((item) => item.webhookId === id)).toBe(true);
    for (let s = 0; s < 5; s++) {
      expect(delivered.filter((item) => item.subject === `cert-${s}`).map((item) => item.version)).toEqual([1, 2, 3, 4]);
    }

    // Resuming an active subscription publishes nothing; a second disable (410) is the sentinel.
    expect((await api.post(`/v1/subscriptions/${name}/resume`, undefined, ADMIN_TOKEN)).status).toBe(200);
    await api.post("/v1/notifications", issued("sentinel"), producer);
    const events: PulledMessage[] = [];
    const about = () => events.filter((event) => event.notification.subject === name);
    await operatorEvents(api, operator, events, () => about().filter((event) => event.notification.type === "subscription.disabled").length >= 2);
    expect(about().map((event) => event.notification.type)).toEqual(["subscription.disabled", "subscription.resumed", "subscription.disabled"]);
    const [disabled, resumedEvent] = about();
    expect(disabled!.notification).toMatchObject({
      source: { name: "certflow" },
      channel: "internal",
      data: { subscription: name, subscriptionId: created.body.subscription.id, reason: expect.stringMatching(/^every attempt has failed/) },
    });
    expect(resumedEvent!.notification.data).toEqual({ subscription: name, subscriptionId: created.body.subscription.id, previousStatus: "disabled" });
    expect(new Set(about().map((event) => event.notification.id)).size).toBe(3);
  });
});
