import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { ack, createProducer, createSubscription, drain, issued, longPollsWaiting, publish, pull } from "../support/fixtures.js";

let system: TestSystem;
let producer: string;

beforeEach(async () => {
  system = await startTestSystem();
  producer = await createProducer(system.api, "registry");
});
afterEach(() => system.destroy());

describe("notifications flow from producer to subscriber", () => {
  it("delivers a posted notification with the full envelope, source taken from the credential", async () => {
    const subscription = await createSubscription(system.api);
    const accepted = await publish(system.api, producer, issued("cert-1"));
    expect(accepted).toMatchObject({ duplicate: false, sequence: 1 });

    const [message] = await drain(system.api, subscription.name, subscription.token, 1);
    expect(message).toMatchObject({ sequence: accepted.sequence, deliveryCount: 1, phase: "live" });
    expect(message!.notification).toMatchObject({
      id: accepted.id,
      type: "certificate.issued",
      subject: "cert-1",
      source: { name: "registry", version: "1" },
      parentId: null,
      correlationId: accepted.id,
      channel: "http",
      data: { certificateId: "cert-1", quantityWh: 1_000_000 },
    });
    expect(message!.ackId).toMatch(/^l\d+\.1$/);
  });

  it("answers an empty list, never null, when nothing is waiting", async () => {
    const subscription = await createSubscription(system.api);
    const response = await system.api.get(`/v1/subscriptions/${subscription.name}/messages?wait=0`, subscription.token);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ messages: [] });
  });

  it("long-polls: answers as soon as a message arrives, and empty after the wait", async () => {
    const subscription = await createSubscription(system.api);
    const started = Date.now();
    const polling = system.api.get(`/v1/subscriptions/${subscription.name}/messages?wait=20`, subscription.token);
    await eventually(async () => expect(await longPollsWaiting(system.api)).toBe(1));
    await publish(system.api, producer, issued("cert-1"));
    const response = await polling;
    expect(response.body.messages).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(15_000);

    await ack(system.api, subscription.name, subscription.token, response.body.messages);
    const waitedFrom = Date.now();
    const empty = await system.api.get(`/v1/subscriptions/${subscription.name}/messages?wait=1`, subscription.token);
    expect(empty.body).toEqual({ messages: [] });
    expect(Date.now() - waitedFrom).toBeGreaterThanOrEqual(900);
  });

  it("returns batches of at most max messages", async () => {
    const subscription = await createSubscription(system.api);
    const batch = Array.from({ length: 30 }, (_, i) => issued(`cert-${i}`));
    await system.api.post("/v1/notifications/batch", { notifications: batch }, producer);
    await drainUntilPending(subscription.name, subscription.token, 30);
    const first = await pull(system.api, subscription.name, subscription.token, "max=10");
    expect(first).toHaveLength(10);
    const rest = await pull(system.api, subscription.name, subscription.token, "max=100");
    expect(rest).toHaveLength(20);
    expect(new Set([...first, ...rest].map((m) => m.notification.subject)).size).toBe(30);
  });
});

describe("duplicates", () => {
  it("accepts the same id once: duplicate the second time, delivered once", async () => {
    const subscription = await createSubscription(system.api);
    const id = "0190f1a2-0000-7000-8000-000000000001";
    const first = await publish(system.api, producer, issued("cert-1", {}, { id }));
    const second = await publish(system.api, producer, issued("cert-1", {}, { id }));
    expect(first).toEqual({ id, sequence: first.sequence, duplicate: false });
    expect(second).toEqual({ id, sequence: first.sequence, duplicate: true });

    const received = await drain(system.api, subscription.name, subscription.token, 1);
    await publish(system.api, producer, issued("cert-2"));
    received.push(...(await drain(system.api, subscription.name, subscription.token, 1)));
    expect(received.map((m) => m.notification.id).filter((x) => x === id)).toHaveLength(1);
  });

  it("deduplicates across a batch and a single post, and within one batch", async () => {
    const subscription = await createSubscription(system.api);
    const id = "0190f1a2-0000-7000-8000-000000000002";
    const batch = await system.api.post(
      "/v1/notifications/batch",
      { notifications: [issued("cert-1", {}, { id }), issued("cert-2"), issued("cert-1", {}, { id })] },
      producer,
    );
    expect(batch.status).toBe(202);
    expect(batch.body.results[0]).toMatchObject({ index: 0, id, duplicate: false });
    expect(batch.body.results[2]).toMatchObject({ index: 2, id, duplicate: true, sequence: batch.body.results[0].sequence });
    const single = await publish(system.api, producer, issued("cert-1", {}, { id }));
    expect(single.duplicate).toBe(true);

    // A later notification of the same subject is the sentinel: a queued duplicate would come before it.
    const sentinel = await publish(system.api, producer, issued("cert-1", { version: 2 }));
    const received = await drainUntil(subscription.name, subscription.token, sentinel.id);
    expect(received.map((m) => m.notification.id).sort()).toEqual([id, batch.body.results[1].id, sentinel.id].sort());
  });

  it("still recognises an id after the broker's duplicate window has passed, from the journal", async () => {
    const shortWindow = await startTestSystem({ env: { CERTFLOW_DEDUP_WINDOW_SECONDS: "1" } });
    try {
      const token = await createProducer(shortWindow.api, "registry");
      const subscription = await createSubscription(shortWindow.api);
      const id = "0190f1a2-0000-7000-8000-000000000003";
      const firstPublished = Date.now();
      await publish(shortWindow.api, token, issued("cert-1", {}, { id }));
      await drain(shortWindow.api, subscription.name, subscription.token, 1);
      // The condition is the broker's duplicate window (1 s) having passed since the first publish.
      await eventually(() => Date.now() - firstPublished > 1_500, { what: "the duplicate window to pass" });
      const again = await publish(shortWindow.api, token, issued("cert-1", {}, { id }));
      expect(again.duplicate).toBe(true);
      // The sentinel is a later change of the same subject: had the copy been queued, it would come first.
      const sentinel = await publish(shortWindow.api, token, issued("cert-1", { version: 2 }));
      const later = await drain(shortWindow.api, subscription.name, subscription.token, 1);
      expect(later.map((m) => m.notification.id)).toEqual([sentinel.id]);
      const journal = await shortWindow.db.selectFrom("notifications").select("id").where("id", "=", id).execute();
      expect(journal).toHaveLength(1);
    } finally {
      await shortWindow.destroy();
    }
  });
});

describe("batch publishing", () => {
  it("publishes valid items and reports each invalid one with the field that is wrong", async () => {
    const subscription = await createSubscription(system.api);
    const response = await system.api.post(
      "/v1/notifications/batch",
      {
        notifications: [
          issued("cert-1"),
          issued("cert-2", { quantityWh: -5 }),
          { type: "certificate.nonsense", subject: "x", data: {} },
          issued("cert-3", {}, { source: { name: "someone-else" } }),
          issued("cert-4"),
        ],
      },
      producer,
    );
    expect(response.status).toBe(202);
    const results = response.body.results;
    expect(results).toHaveLength(5);
    expect(results[0]).toMatchObject({ index: 0, duplicate: false });
    expect(results[1].error).toMatchObject({ code: "validation_failed" });
    expect(results[1].error.detail).toContain("notifications.1.data.quantityWh");
    expect(results[2].error.detail).toContain("notifications.2.type");
    expect(results[3].error.detail).toContain("notifications.3.source.name");
    expect(results[4]).toMatchObject({ index: 4, duplicate: false });
    const received = await drain(system.api, subscription.name, subscription.token, 2);
    expect(received.map((m) => m.notification.subject).sort()).toEqual(["cert-1", "cert-4"]);
  });

  it("refuses an empty batch and one over 1,000 items", async () => {
    const empty = await system.api.post("/v1/notifications/batch", { notifications: [] }, producer);
    expect(empty.status).toBe(400);
    expect(empty.body.detail).toContain("notifications");
    const tooMany = Array.from({ length: 1001 }, (_, i) => issued(`c-${i}`));
    const big = await system.api.post("/v1/notifications/batch", { notifications: tooMany }, producer);
    expect(big.status).toBe(400);
    expect(big.body.detail).toContain("at most 1000");
  });
});

describe("traceability fields", () => {
  it("inherits the correlation id from a journaled parent, and from an earlier item of the same batch", async () => {
    const subscription = await createSubscription(system.api);
    const root = await publish(system.api, producer, issued("cert-1"));
    await drain(system.api, subscription.name, subscription.token, 1);
    const child = await publish(system.api, producer, issued("cert-1", { version: 2 }, { parentId: root.id }));
    const batch = await system.api.post(
      "/v1/notifications/batch",
      {
        notifications: [
          issued("cert-9", {}, { id: "0190f1a2-0000-7000-8000-0000000000a1" }),
          issued("cert-9", { version: 2 }, { parentId: "0190f1a2-0000-7000-8000-0000000000a1" }),
        ],
      },
      producer,
    );
    expect(batch.status).toBe(202);
    const received = await drain(system.api, subscription.name, subscription.token, 3);
    const byId = new Map(received.map((m) => [m.notification.id, m.notification]));
    expect(byId.get(child.id)).toMatchObject({ parentId: root.id, correlationId: root.id });
    expect(byId.get(batch.body.results[1].id)).toMatchObject({
      parentId: "0190f1a2-0000-7000-8000-0000000000a1",
      correlationId: "0190f1a2-0000-7000-8000-0000000000a1",
    });
  });
});

async function drainUntilPending(name: string, token: string, count: number): Promise<void> {
  await eventually(async () => {
    const response = await system.api.get(`/v1/subscriptions/${name}`, token);
    expect(response.body.stats.pending, `pending of ${name}`).toBeGreaterThanOrEqual(count);
  });
}

/** Pulls and acks until the message with `id` arrived; returns all of them in arrival order. */
async function drainUntil(name: string, token: string, id: string) {
  const received: Awaited<ReturnType<typeof pull>> = [];
  await eventually(async () => {
    const batch = await pull(system.api, name, token, "max=100&wait=1");
    received.push(...batch);
    await ack(system.api, name, token, batch);
    expect(received.map((message) => message.notification.id)).toContain(id);
  });
  return received;
}
