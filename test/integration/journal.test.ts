import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { ack, createProducer, createSubscription, drain, issued, publish, pull } from "../support/fixtures.js";

let system: TestSystem;
let producer: string;

beforeEach(async () => {
  system = await startTestSystem();
  producer = await createProducer(system.api, "registry");
});
afterEach(() => system.destroy());

async function journaled(id: string, token = ADMIN_TOKEN) {
  return eventually(
    async () => {
      const response = await system.api.get(`/v1/notifications/${id}`, token);
      expect(response.status, `${id} journaled`).toBe(200);
      return response;
    },
    { timeoutMs: 5_000 },
  );
}

describe("GET /v1/notifications/{id}", () => {
  it("returns the notification with its delivery state per subscription", async () => {
    const fast = await createSubscription(system.api, { name: "fast" });
    const slow = await createSubscription(system.api, { name: "slow" });
    const posted = await publish(system.api, producer, issued("cert-1"));
    await drain(system.api, fast.name, fast.token, 1);
    const [leased] = await pull(system.api, slow.name, slow.token, "max=1&wait=2");
    expect(leased).toBeDefined();

    const response = await journaled(posted.id, producer);
    expect(response.body).toMatchObject({
      sequence: posted.sequence,
      notification: { id: posted.id, subject: "cert-1", source: { name: "registry" } },
      deliveries: [
        { subscription: "fast", status: "acked", deliveryCount: 1 },
        { subscription: "slow", status: "delivered", deliveryCount: 1, finishedAt: null },
      ],
    });
    await system.api.post(`/v1/subscriptions/slow/rejects`, { ackIds: [leased!.ackId] }, slow.token);
    const after = await system.api.get(`/v1/notifications/${posted.id}`, ADMIN_TOKEN);
    expect(after.body.deliveries[1]).toMatchObject({ subscription: "slow", status: "dead_lettered", deadLetterReason: "rejected" });
  });

  it("hides other producers' notifications and refuses subscription tokens", async () => {
    const subscription = await createSubscription(system.api);
    const posted = await publish(system.api, producer, issued("cert-1"));
    await journaled(posted.id);
    const stranger = await createProducer(system.api, "stranger");
    expect((await system.api.get(`/v1/notifications/${posted.id}`, stranger)).status).toBe(404);
    expect((await system.api.get(`/v1/notifications/${posted.id}`, subscription.token)).status).toBe(403);
    expect((await system.api.get(`/v1/notifications/not-a-uuid`, ADMIN_TOKEN)).status).toBe(400);
    expect((await system.api.get(`/v1/notifications/0190f1a2-0000-7000-8000-00000000ffff`, ADMIN_TOKEN)).status).toBe(404);
  });
});

describe("GET /v1/notifications/{id}/trace", () => {
  it("returns a three-level chain whole from any member", async () => {
    const command = await publish(system.api, producer, issued("cert-1"));
    const event = await publish(system.api, producer, issued("cert-1", { version: 2 }, { type: "certificate.cancelled", data: { ...issued("cert-1").data, status: "cancelled", version: 2 }, parentId: command.id }));
    const followUp = await publish(system.api, producer, issued("cert-1-h1", { kind: "hourly", parentCertificateId: "cert-1" }, { parentId: event.id }));
    const unrelated = await publish(system.api, producer, issued("cert-2"));
    await journaled(followUp.id);
    await journaled(unrelated.id);

    const ids = (list: Array<{ id: string }>) => list.map((n) => n.id);
    const fromRoot = await system.api.get(`/v1/notifications/${command.id}/trace`, ADMIN_TOKEN);
    expect(fromRoot.body.ancestors).toEqual([]);
    expect(fromRoot.body.descendants).toHaveLength(1);
    expect(fromRoot.body.descendants[0].notification.id).toBe(event.id);
    expect(fromRoot.body.descendants[0].children[0].notification.id).toBe(followUp.id);
    expect(fromRoot.body.descendants[0].children[0].children).toEqual([]);

    const fromMiddle = await system.api.get(`/v1/notifications/${event.id}/trace`, producer);
    expect(fromMiddle.body.notification.id).toBe(event.id);
    expect(ids(fromMiddle.body.ancestors)).toEqual([command.id]);
    expect(fromMiddle.body.descendants.map((node: { notification: { id: string } }) => node.notification.id)).toEqual([followUp.id]);

    const fromLeaf = await system.api.get(`/v1/notifications/${followUp.id}/trace`, ADMIN_TOKEN);
    expect(ids(fromLeaf.body.ancestors)).toEqual([command.id, event.id]);
    expect(fromLeaf.body.descendants).toEqual([]);
    // Every member carries the root's correlation id.
    for (const node of [...fromLeaf.body.ancestors, fromLeaf.body.notification]) expect(node.correlationId).toBe(command.id);
  });
});

describe("GET /v1/certificates/{id}/history", () => {
  it("lists the notifications that changed a certificate, in order, with a cursor", async () => {
    await publish(system.api, producer, issued("cert-1"));
    await publish(system.api, producer, issued("cert-2"));
    const transfers = [];
    for (let version = 2; version <= 4; version++) {
      transfers.push(
        await publish(system.api, producer, {
          type: "certificate.transferred",
          subject: "cert-1",
          data: { ...issued("cert-1").data, version, owner: `owner-${version}`, previousOwner: "owner-a" },
        }),
      );
    }
    await journaled(transfers[2]!.id);
    const first = await system.api.get("/v1/certificates/cert-1/history?limit=3", producer);
    expect(first.status).toBe(200);
    expect(first.body.notifications.map((n: { notification: { data: { version: number } } }) => n.notification.data.version)).toEqual([1, 2, 3]);
    const second = await system.api.get(`/v1/certificates/cert-1/history?limit=3&cursor=${first.body.nextCursor}`, ADMIN_TOKEN);
    expect(second.body.notifications.map((n: { sequence: number }) => n.sequence)).toEqual([transfers[2]!.sequence]);
    expect(second.body.nextCursor).toBeNull();
    const subscription = await createSubscription(system.api);
    expect((await system.api.get("/v1/certificates/cert-1/history", subscription.token)).status).toBe(403);
    await ack(system.api, subscription.name, subscription.token, []);
  });
});
