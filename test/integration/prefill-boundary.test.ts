import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ack, createProducer, createSubscription, issued, publish, pull, type PulledMessage } from "../support/fixtures.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
afterEach(async () => {
  await system?.destroy();
  system = undefined;
});

/** Pulls and acks, one message at a time, until a live message of `subject` arrives. */
async function receiveUntilLive(api: TestSystem["api"], name: string, token: string, subject: string): Promise<PulledMessage[]> {
  const received: PulledMessage[] = [];
  await eventually(
    async () => {
      const batch = await pull(api, name, token, "max=1&wait=1");
      received.push(...batch);
      await ack(api, name, token, batch);
      expect(received.some((m) => m.phase === "live" && m.notification.subject === subject)).toBe(true);
    },
    { timeoutMs: 30_000, what: `the live message of ${subject}` },
  );
  return received;
}

describe("prefill boundary", () => {
  it("sends one prefill.completed after the last snapshot and before the first live message, with the count and P", async () => {
    system = await startTestSystem();
    const { api } = system;
    const producer = await createProducer(api);
    for (let i = 0; i < 4; i++) await publish(api, producer, issued(`cert-${i}`, { gridArea: i < 3 ? "DK1" : "DK2" }));
    await eventually(async () => {
      const rows = await system!.db.selectFrom("certificate_states").select("certificate_id").execute();
      expect(rows).toHaveLength(4);
    });
    const subscription = await createSubscription(api, { prefill: true, filters: [{ types: ["certificate.*"], where: { gridArea: ["DK1"] } }] });
    await eventually(async () => expect((await api.get(`/v1/subscriptions/${subscription.name}`, ADMIN_TOKEN)).body.prefill.status).toBe("done"));
    const live = await publish(api, producer, issued("cert-live"));

    const received = await receiveUntilLive(api, subscription.name, subscription.token, "cert-live");
    expect(received.map((m) => m.notification.type)).toEqual([
      "certificate.snapshot",
      "certificate.snapshot",
      "certificate.snapshot",
      "prefill.completed",
      "certificate.issued",
    ]);
    const marker = received[3]!;
    expect(marker).toMatchObject({ phase: "prefill", sequence: 4 });
    expect(marker.notification).toMatchObject({ source: { name: "certflow" }, channel: "prefill", subject: subscription.id });
    const snapshot = await system.db.selectFrom("prefill_snapshots").select("position").executeTakeFirstOrThrow();
    expect(marker.notification.data).toEqual({ subscriptionId: subscription.id, count: 3, position: snapshot.position });
    expect(live.sequence).toBeGreaterThan(snapshot.position);
  });

  it("sends prefill.completed with count 0 when nothing matched", async () => {
    system = await startTestSystem();
    const { api } = system;
    const producer = await createProducer(api);
    const subscription = await createSubscription(api, { prefill: true, filters: [{ types: ["certificate.*"], where: { gridArea: ["XX"] } }] });
    await eventually(async () => expect((await api.get(`/v1/subscriptions/${subscription.name}`, ADMIN_TOKEN)).body.prefill.status).toBe("done"));
    await publish(api, producer, issued("cert-x", { gridArea: "XX" }));

    const received = await receiveUntilLive(api, subscription.name, subscription.token, "cert-x");
    expect(received.map((m) => [m.phase, m.notification.type])).toEqual([
      ["prefill", "prefill.completed"],
      ["live", "certificate.issued"],
    ]);
    expect(received[0]!.notification.data).toMatchObject({ count: 0 });
  });
});
