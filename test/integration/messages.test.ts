import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { ack, createProducer, createSubscription, drain, issued, longPollsWaiting, publish, pull, type PulledMessage } from "../support/fixtures.js";
import { expectOneHeadPerSubject } from "../support/ledger.js";

let system: TestSystem;
let producer: string;

beforeEach(async () => {
  system = await startTestSystem();
  producer = await createProducer(system.api);
});
afterEach(() => system.destroy());

async function pullUntil(name: string, token: string, count: number, query = "max=100&wait=2"): Promise<PulledMessage[]> {
  const received: PulledMessage[] = [];
  for (let attempt = 0; attempt < 20 && received.length < count; attempt++) {
    received.push(...(await pull(system.api, name, token, query)));
  }
  return received;
}

const settle = (verb: string, name: string, token: string, body: unknown) =>
  system.api.post(`/v1/subscriptions/${name}/${verb}`, body, token);

describe("acknowledgements", () => {
  it("redelivers an unacked message after the ack timeout, with a higher deliveryCount; the old ackId expires", async () => {
    const subscription = await createSubscription(system.api, { ackTimeoutSeconds: 1 });
    await publish(system.api, producer, issued("c-1"));
    const [first] = await pullUntil(subscription.name, subscription.token, 1);
    expect(first!.deliveryCount).toBe(1);
    expect(await pull(system.api, subscription.name, subscription.token)).toEqual([]);

    const [second] = await pullUntil(subscription.name, subscription.token, 1, "max=10&wait=5");
    expect(second!.notification.id).toBe(first!.notification.id);
    expect(second!.deliveryCount).toBe(2);

    const stale = await settle("acks", subscription.name, subscription.token, { ackIds: [first!.ackId] });
    expect(stale.body.results).toEqual([{ ackId: first!.ackId, status: "expired" }]);
    const fresh = await settle("acks", subscription.name, subscription.token, { ackIds: [second!.ackId] });
    expect(fresh.body.results).toEqual([{ ackId: second!.ackId, status: "acked" }]);
    const twice = await settle("acks", subscription.name, subscription.token, { ackIds: [second!.ackId] });
    expect(twice.body.results).toEqual([{ ackId: second!.ackId, status: "not_found" }]);
  });

  it("nack hands a message back at once, or after its delay", async () => {
    const subscription = await createSubscription(system.api);
    await publish(system.api, producer, issued("c-1"));
    const [message] = await pullUntil(subscription.name, subscription.token, 1);
    const nacked = await settle("nacks", subscription.name, subscription.token, { ackIds: [message!.ackId] });
    expect(nacked.body.results[0].status).toBe("nacked");
    const [again] = await pull(system.api, subscription.name, subscription.token);
    expect(again).toMatchObject({ deliveryCount: 2, notification: { id: message!.notification.id } });

    await settle("nacks", subscription.name, subscription.token, { ackIds: [again!.ackId], delaySeconds: 2 });
    expect(await pull(system.api, subscription.name, subscription.token)).toEqual([]);
    const started = Date.now();
    const [later] = await pullUntil(subscription.name, subscription.token, 1, "max=10&wait=5");
    expect(later!.deliveryCount).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it("rejects dead-letter at once; dead letters are listed and redriven", async () => {
    const subscription = await createSubscription(system.api);
    const posted = await publish(system.api, producer, issued("c-1"));
    const [message] = await pullUntil(subscription.name, subscription.token, 1);
    const rejected = await settle("rejects", subscription.name, subscription.token, { ackIds: [message!.ackId] });
    expect(rejected.body.results[0].status).toBe("dead_lettered");

    const listed = await system.api.get(`/v1/subscriptions/${subscription.name}/dead-letters`, subscription.token);
    expect(listed.status).toBe(200);
    expect(listed.body.deadLetters).toHaveLength(1);
    expect(listed.body.deadLetters[0]).toMatchObject({
      id: `l${posted.sequence}`,
      reason: "rejected",
      deliveryCount: 1,
      notification: { id: posted.id },
    });
    const stats = await system.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
    expect(stats.body.stats).toMatchObject({ pending: 0, deadLettered: 1 });

    const redriven = await system.api.post(`/v1/subscriptions/${subscription.name}/dead-letters/redrive`, {}, subscription.token);
    expect(redriven.body).toEqual({ redriven: 1 });
    const afterRedrive = await system.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
    expect(afterRedrive.body.stats).toMatchObject({ pending: 1, deadLettered: 0 });
    const [back] = await pullUntil(subscription.name, subscription.token, 1);
    expect(back).toMatchObject({ deliveryCount: 1, notification: { id: posted.id } });
    await ack(system.api, subscription.name, subscription.token, [back!]);
    const none = await system.api.get(`/v1/subscriptions/${subscription.name}/dead-letters`, subscription.token);
    expect(none.body.deadLetters).toEqual([]);
    const afterAck = await system.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
    expect(afterAck.body.stats).toMatchObject({ pending: 0, deadLettered: 0, acked: 1 });
    await expectOneHeadPerSubject(system.db, [subscription.id]);
  });

  it("dead-letters a message after maxDeliveries, and redrives only those named", async () => {
    const subscription = await createSubscription(system.api, { maxDeliveries: 2 });
    const kept = await publish(system.api, producer, issued("c-1"));
    const other = await publish(system.api, producer, issued("c-2"));
    for (let round = 0; round < 2; round++) {
      const batch = await pullUntil(subscription.name, subscription.token, 2);
      const results = await settle("nacks", subscription.name, subscription.token, { ackIds: batch.map((m) => m.ackId) });
      const expected = round === 0 ? "nacked" : "dead_lettered";
      expect(results.body.results.map((r: { status: string }) => r.status)).toEqual([expected, expected]);
    }
    const listed = await system.api.get(`/v1/subscriptions/${subscription.name}/dead-letters?limit=1`, subscription.token);
    expect(listed.body.deadLetters).toHaveLength(1);
    expect(listed.body.deadLetters[0]).toMatchObject({ reason: "max_deliveries", deliveryCount: 2 });
    const page2 = await system.api.get(
      `/v1/subscriptions/${subscription.name}/dead-letters?limit=1&cursor=${listed.body.nextCursor}`,
      subscription.token,
    );
    expect(page2.body.deadLetters).toHaveLength(1);
    expect(page2.body.nextCursor).toBeNull();

    const redriven = await system.api.post(
      `/v1/subscriptions/${subscription.name}/dead-letters/redrive`,
      { ids: [`l${kept.sequence}`] },
      subscription.token,
    );
    expect(redriven.body).toEqual({ redriven: 1 });
    const back = await pullUntil(subscription.name, subscription.token, 1);
    expect(back.map((m) => m.notification.id)).toEqual([kept.id]);
    expect(other.id).not.toBe(kept.id);
    const stats = await system.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
    expect(stats.body.stats).toMatchObject({ pending: 1, deadLettered: 1 });
    await expectOneHeadPerSubject(system.db, [subscription.id]);
  });

  it("dead-letters when the last allowed delivery times out", async () => {
    const subscription = await createSubscription(system.api, { maxDeliveries: 1, ackTimeoutSeconds: 1 });
    await publish(system.api, producer, issued("c-1"));
    await pullUntil(subscription.name, subscription.token, 1);
    // Once the lease has run out, the next pull dead-letters the message instead of handing it out again.
    const listed = await eventually(async () => {
      expect(await pull(system.api, subscription.name, subscription.token, "wait=0")).toEqual([]);
      const response = await system.api.get(`/v1/subscriptions/${subscription.name}/dead-letters`, subscription.token);
      expect(response.body.deadLetters).toHaveLength(1);
      return response;
    });
    expect(listed.body.deadLetters[0].reason).toBe("max_deliveries");
    const stats = await system.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
    expect(stats.body.stats).toMatchObject({ pending: 0, deadLettered: 1 });
    await expectOneHeadPerSubject(system.db, [subscription.id]);
  });

  it("answers a pull with what waits behind more timed-out last deliveries than one lease clears", async () => {
    const subscription = await createSubscription(system.api, { maxDeliveries: 1, ackTimeoutSeconds: 1 });
    const batch = await system.api.post(
      "/v1/notifications/batch",
      { notifications: Array.from({ length: 15 }, (_, i) => issued(`c-${i}`)) },
      producer,
    );
    expect(batch.status).toBe(202);
    expect(await pullUntil(subscription.name, subscription.token, 15)).toHaveLength(15);
    const position = () => system.api.get(`/v1/subscriptions/${subscription.name}/position`, subscription.token);
    await eventually(async () => expect((await position()).body.inFlight).toBe(0));
    const sentinel = await publish(system.api, producer, issued("c-sentinel"));
    await eventually(async () => expect((await position()).body.lastDispatchedSequence).toBe(sentinel.sequence));

    // One message per lease round: ten rounds dead-letter ten heads, and the pull goes on past them.
    const answered = await pull(system.api, subscription.name, subscription.token, "max=1&wait=0");
    expect(answered.map((m) => m.notification.id)).toEqual([sentinel.id]);
    const stats = await system.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
    expect(stats.body.stats).toMatchObject({ deadLettered: 15, pending: 1 });
    await expectOneHeadPerSubject(system.db, [subscription.id]);
  });

  it("acks the last batch and pulls the next in one request: an acked subject's next message comes in the same answer", async () => {
    const subscription = await createSubscription(system.api);
    await publish(system.api, producer, issued("c-1", { version: 1 }));
    await publish(system.api, producer, issued("c-1", { version: 2 }));
    await publish(system.api, producer, issued("c-2"));
    const first = await pullUntil(subscription.name, subscription.token, 2);
    const path = `/v1/subscriptions/${subscription.name}/pull`;
    const response = await system.api.post(path, { ackIds: first.map((m) => m.ackId), max: 10, wait: 2 }, subscription.token);
    expect(response.status).toBe(200);
    expect(response.body.results).toEqual(first.map((m) => ({ ackId: m.ackId, status: "acked" })));
    expect(response.body.messages.map((m: PulledMessage) => [m.notification.subject, m.notification.data.version])).toEqual([["c-1", 2]]);
    const again = await system.api.post(path, { ackIds: [first[0]!.ackId, response.body.messages[0].ackId] }, subscription.token);
    expect(again.body).toEqual({ results: [{ ackId: first[0]!.ackId, status: "not_found" }, { ackId: response.body.messages[0].ackId, status: "acked" }], messages: [] });
    const bad = await system.api.post(path, { ackIds: ["x"], max: 0 }, subscription.token);
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/ackIds|max/);
  });

  it("names the bad ackId and refuses empty lists", async () => {
    const subscription = await createSubscription(system.api);
    const bad = await settle("acks", subscription.name, subscription.token, { ackIds: ["l1.1", "nonsense"] });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("ackIds.1");
    const empty = await settle("nacks", subscription.name, subscription.token, { ackIds: [] });
    expect(empty.status).toBe(400);
    const negative = await settle("nacks", subscription.name, subscription.token, { ackIds: ["l1.1"], delaySeconds: -1 });
    expect(negative.status).toBe(400);
    expect(negative.body.detail).toContain("delaySeconds");
    const badRedrive = await system.api.post(`/v1/subscriptions/${subscription.name}/dead-letters/redrive`, { ids: ["x"] }, subscription.token);
    expect(badRedrive.status).toBe(400);
    expect(badRedrive.body.detail).toContain("ids.0");
    const badQuery = await system.api.get(`/v1/subscriptions/${subscription.name}/messages?max=0`, subscription.token);
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.detail).toContain("max");
    const badWait = await system.api.get(`/v1/subscriptions/${subscription.name}/messages?wait=600`, subscription.token);
    expect(badWait.status).toBe(400);
    expect(badWait.body.detail).toContain("wait");
  });
});

describe("per-subject order", () => {
  it("hands out one message per subject at a time, in order, across nacks and timeouts", async () => {
    const subscription = await createSubscription(system.api, { ackTimeoutSeconds: 1 });
    for (let version = 1; version <= 3; version++) await publish(system.api, producer, issued("c-a", { version }));
    await publish(system.api, producer, issued("c-b"));

    // Only the head of each subject is available (subjects go out in parallel: no order between them).
    const firstRound = (await pullUntil(subscription.name, subscription.token, 2)).sort((a, b) =>
      a.notification.subject.localeCompare(b.notification.subject),
    );
    expect(firstRound.map((m) => [m.notification.subject, m.notification.data.version])).toEqual([
      ["c-a", 1],
      ["c-b", 1],
    ]);
    expect(await pull(system.api, subscription.name, subscription.token)).toEqual([]);

    // c-a v1 nacked: it comes back before v2.
    const a1 = firstRound[0]!;
    await settle("nacks", subscription.name, subscription.token, { ackIds: [a1.ackId] });
    const [retry] = await pull(system.api, subscription.name, subscription.token);
    expect(retry!.notification.data.version).toBe(1);
    await ack(system.api, subscription.name, subscription.token, [retry!, firstRound[1]!]);

    // v2 is next; let its lease time out: it comes back, still before v3.
    const [v2] = await pull(system.api, subscription.name, subscription.token);
    expect(v2!.notification.data.version).toBe(2);
    const [v2again] = await pullUntil(subscription.name, subscription.token, 1, "max=10&wait=5");
    expect(v2again).toMatchObject({ deliveryCount: 2, notification: { data: { version: 2 } } });
    await ack(system.api, subscription.name, subscription.token, [v2again!]);
    const [v3] = await pull(system.api, subscription.name, subscription.token, "wait=2");
    expect(v3!.notification.data.version).toBe(3);
    await expectOneHeadPerSubject(system.db);
  });

  it("keeps per-subject order for many subjects under concurrent pullers", async () => {
    const subscription = await createSubscription(system.api);
    const subjects = 20;
    const versions = 15;
    const batch = [];
    for (let version = 1; version <= versions; version++) {
      for (let s = 0; s < subjects; s++) batch.push(issued(`c-${s}`, { version }));
    }
    const response = await system.api.post("/v1/notifications/batch", { notifications: batch }, producer);
    expect(response.status).toBe(202);

    const seen = new Map<string, number[]>();
    const worker = async () => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && [...seen.values()].reduce((n, v) => n + v.length, 0) < subjects * versions) {
        const messages = await pull(system.api, subscription.name, subscription.token, "max=7&wait=1");
        for (const m of messages) {
          const list = seen.get(m.notification.subject) ?? [];
          list.push(m.notification.data.version);
          seen.set(m.notification.subject, list);
        }
        await ack(system.api, subscription.name, subscription.token, messages);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(seen.size).toBe(subjects);
    for (const [, list] of seen) expect(list).toEqual(Array.from({ length: versions }, (_, i) => i + 1));
    await expectOneHeadPerSubject(system.db);
  });
});

describe("housekeeping", () => {
  it("keeps no bookkeeping of subjects with nothing pending, and a subject queued again is still delivered", async () => {
    const subscription = await createSubscription(system.api);
    for (const id of ["c-1", "c-2", "c-3"]) await publish(system.api, producer, issued(id));
    await ack(system.api, subscription.name, subscription.token, await pullUntil(subscription.name, subscription.token, 3));
    const heads = () => system.db.selectFrom("deliveries").select("seq").where("is_head", "=", true).execute();
    expect(await heads()).toEqual([]);

    await publish(system.api, producer, issued("c-1", { version: 2 }));
    await publish(system.api, producer, issued("c-1", { version: 3 }));
    const [first] = await pullUntil(subscription.name, subscription.token, 1);
    expect(first!.notification.data.version).toBe(2);
    await ack(system.api, subscription.name, subscription.token, [first!]);
    const [second] = await pullUntil(subscription.name, subscription.token, 1);
    expect(second!.notification.data.version).toBe(3);
    await expectOneHeadPerSubject(system.db);
  });
});

describe("routing", () => {
  it("delivers by type pattern and where filter, filters OR-ed, where keys AND-ed", async () => {
    const wind = await createSubscription(system.api, { filters: [{ types: ["certificate.issued"], where: { energySource: ["wind"], gridArea: ["DK1", "DK2"] } }] });
    const cancelled = await createSubscription(system.api, {
      filters: [{ types: ["certificate.cancelled"] }, { types: ["certificate.*"], where: { owner: ["vip"] } }],
    });
    const everything = await createSubscription(system.api, { filters: [{ types: ["*"] }] });
    await publish(system.api, producer, issued("c-1", { energySource: "wind", gridArea: "DK1" }));
    await publish(system.api, producer, issued("c-2", { energySource: "solar", gridArea: "DK1" }));
    await publish(system.api, producer, issued("c-3", { energySource: "wind", gridArea: "SE3" }));
    await publish(system.api, producer, issued("c-4", { owner: "vip" }));
    await publish(system.api, producer, {
      type: "certificate.cancelled",
      subject: "c-5",
      data: { ...issued("c-5").data, status: "cancelled", version: 2 },
    });

    const all = await drain(system.api, everything.name, everything.token, 5);
    expect(all).toHaveLength(5);
    const windSubjects = (await drain(system.api, wind.name, wind.token, 2)).map((m) => m.notification.subject);
    expect(windSubjects.sort()).toEqual(["c-1", "c-4"]);
    const cancelledSubjects = (await drain(system.api, cancelled.name, cancelled.token, 2)).map((m) => m.notification.subject);
    expect(cancelledSubjects.sort()).toEqual(["c-4", "c-5"]);
    // `everything` is the sentinel: a notification's deliveries to every subscription are written in one
    // statement, so once all five reached it, whatever the others were to get is already there.
    expect(await pull(system.api, wind.name, wind.token)).toEqual([]);
    expect(await pull(system.api, cancelled.name, cancelled.token)).toEqual([]);
  });
});

describe("shutdown", () => {
  it("answers a waiting long-poll with an empty list when the system stops", async () => {
    const subscription = await createSubscription(system.api);
    const polling = system.api.get(`/v1/subscriptions/${subscription.name}/messages?wait=30`, subscription.token);
    await eventually(async () => expect(await longPollsWaiting(system.api)).toBe(1));
    const started = Date.now();
    await system.stop();
    const response = await polling;
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ messages: [] });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

