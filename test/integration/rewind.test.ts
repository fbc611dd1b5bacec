import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { createProducer, createSubscription, drain, issued, pull, type PulledMessage } from "../support/fixtures.js";
import { expectOneHeadPerSubject } from "../support/ledger.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
afterEach(async () => {
  await system?.destroy();
  system = undefined;
});

const SUBJECTS = 50;

async function postVersions(api: TestSystem["api"], producer: string, count: number, firstVersion: number, subjects = SUBJECTS) {
  const sequences: number[] = [];
  for (let start = 0; start < count; start += 1000) {
    const notifications = Array.from({ length: Math.min(1000, count - start) }, (_, k) => {
      const i = start + k;
      return issued(`cert-${i % subjects}`, { version: firstVersion + Math.floor(i / subjects) });
    });
    const response = await api.post("/v1/notifications/batch", { notifications }, producer);
    expect(response.status).toBe(202);
    sequences.push(...response.body.results.map((result: { sequence: number }) => result.sequence));
  }
  return sequences;
}

/** Each sequence once, and per subject in stream order. */
function expectOnceInOrder(received: PulledMessage[], expected: number[]) {
  const sequences = received.map((m) => m.sequence);
  expect(new Set(sequences).size, "a message came twice").toBe(sequences.length);
  expect([...sequences].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
  const last = new Map<string, number>();
  for (const message of received) {
    expect(message.sequence, `order of ${message.notification.subject}`).toBeGreaterThan(last.get(message.notification.subject) ?? 0);
    last.set(message.notification.subject, message.sequence);
  }
}

async function position(api: TestSystem["api"], name: string, token: string) {
  const response = await api.get(`/v1/subscriptions/${name}/position`, token);
  expect(response.status).toBe(200);
  return response.body as { ackFloorSequence: number; lastDispatchedSequence: number; pending: number; inFlight: number; oldestPendingAgeSeconds: number };
}

describe("rewind", () => {
  it("replays 1,000..5,000 once each, in order, then live with no gap; by time too; with 100 in flight", async () => {
    system = await startTestSystem();
    const { api } = system;
    const producer = await createProducer(api);
    const subscription = await createSubscription(api, { filters: [{ types: ["certificate.*"] }], ackTimeoutSeconds: 300 });
    const { name, token } = subscription;

    const sequences = await postVersions(api, producer, 5000, 1);
    expectOnceInOrder(await drain(api, name, token, 5000, 120_000), sequences);
    await eventually(async () => expect(await position(api, name, token)).toMatchObject({ pending: 0, inFlight: 0, ackFloorSequence: sequences[4999] }));

    // By sequence: the 1,000th notification and every one after it, acked ones included.
    const from = sequences[999]!;
    const rewound = await api.post(`/v1/subscriptions/${name}/rewind`, { fromSequence: from }, token);
    expect(rewound.status, JSON.stringify(rewound.body)).toBe(200);
    expect(rewound.body).toEqual({ fromSequence: from, requeued: 4001, expiredLeases: 0 });
    expect(await position(api, name, token)).toMatchObject({ pending: 4001, ackFloorSequence: from - 1, lastDispatchedSequence: sequences[4999] });
    const replay = await drain(api, name, token, 4001, 120_000);
    expectOnceInOrder(replay, sequences.slice(999));
    const live = await postVersions(api, producer, 100, 1000);
    expectOnceInOrder(await drain(api, name, token, 100, 60_000), live);
    expect(await pull(api, name, token, "max=10&wait=0")).toEqual([]);

    // By time: from the first notification accepted at or after T.
    const acceptedAt = await sql<{ accepted_at: Date }>`SELECT accepted_at FROM notifications WHERE seq = ${sequences[3000]!}`.execute(system.db);
    const fromTime = acceptedAt.rows[0]!.accepted_at;
    const firstAtTime = await sql<{ seq: number }>`SELECT min(seq)::int AS seq FROM notifications WHERE accepted_at >= ${fromTime}`.execute(system.db);
    const byTime = await api.post(`/v1/subscriptions/${name}/rewind`, { fromTime: fromTime.toISOString() }, ADMIN_TOKEN);
    expect(byTime.status).toBe(200);
    const all = [...sequences, ...live];
    const expectedByTime = all.filter((seq) => seq >= firstAtTime.rows[0]!.seq);
    expect(byTime.body).toMatchObject({ fromSequence: firstAtTime.rows[0]!.seq, requeued: expectedByTime.length });
    expect(expectedByTime).toContain(sequences[3000]);
    expectOnceInOrder(await drain(api, name, token, expectedByTime.length, 120_000), expectedByTime);

    // With 100 in flight: their leases end, none is acked by an old ack id, each comes again once.
    const hundred = await postVersions(api, producer, 100, 2000, 100);
    const inFlight: PulledMessage[] = [];
    await eventually(async () => {
      inFlight.push(...(await pull(api, name, token, "max=100&wait=1")));
      expect(inFlight).toHaveLength(100);
    });
    expect((await position(api, name, token)).inFlight).toBe(100);
    const fromInFlight = sequences[4500]!;
    const withLeases = await api.post(`/v1/subscriptions/${name}/rewind`, { fromSequence: fromInFlight }, token);
    const expectedAfter = [...sequences, ...live, ...hundred].filter((seq) => seq >= fromInFlight);
    expect(withLeases.body).toEqual({ fromSequence: fromInFlight, requeued: expectedAfter.length, expiredLeases: 100 });
    const lateAcks = await api.post(`/v1/subscriptions/${name}/acks`, { ackIds: inFlight.map((m) => m.ackId) }, token);
    expect(new Set(lateAcks.body.results.map((result: { status: string }) => result.status))).toEqual(new Set(["expired"]));
    expectOnceInOrder(await drain(api, name, token, expectedAfter.length, 120_000), expectedAfter);
    expect(await position(api, name, token)).toMatchObject({ pending: 0, inFlight: 0, ackFloorSequence: hundred[99] });
  }, 600_000);

  it("queues dead letters again: they leave the dead-letter count and come once each", async () => {
    system = await startTestSystem();
    const { api } = system;
    const producer = await createProducer(api);
    const { name, token, id } = await createSubscription(api, { filters: [{ types: ["certificate.*"] }] });
    const sequences = await postVersions(api, producer, 30, 1, 3);
    const rejected: PulledMessage[] = [];
    await eventually(async () => {
      const batch = await pull(api, name, token, "max=30&wait=1");
      if (batch.length > 0) await api.post(`/v1/subscriptions/${name}/rejects`, { ackIds: batch.map((m) => m.ackId) }, token);
      rejected.push(...batch);
      expect(rejected).toHaveLength(30);
    });
    const stats = async () => (await api.get(`/v1/subscriptions/${name}`, token)).body.stats;
    expect(await stats()).toMatchObject({ pending: 0, deadLettered: 30 });

    const rewound = await api.post(`/v1/subscriptions/${name}/rewind`, { fromSequence: sequences[10]! }, token);
    expect(rewound.body).toMatchObject({ requeued: 20, expiredLeases: 0 });
    expect(await stats()).toMatchObject({ pending: 20, deadLettered: 10 });
    expectOnceInOrder(await drain(api, name, token, 20, 60_000), sequences.slice(10));
    await eventually(async () => expect(await stats()).toMatchObject({ pending: 0, deadLettered: 10 }));
    await expectOneHeadPerSubject(system.db, [id]);
  });

  it("replays to a push subscription too, each once, with the same webhook ids", async () => {
    const { startReceiver } = await import("../support/receiver.js");
    const endpoint = await startReceiver(() => ({ status: 200 }));
    try {
      system = await startTestSystem({ env: { CERTFLOW_PUSH_ALLOW_PRIVATE: "true" } });
      const { api } = system;
      const producer = await createProducer(api);
      const created = await api.post(
        "/v1/subscriptions",
        { name: "rewound-hook", filters: [{ types: ["certificate.*"] }], delivery: { mode: "push", url: endpoint.url } },
        ADMIN_TOKEN,
      );
      expect(created.status).toBe(201);
      const sequences = await postVersions(api, producer, 200, 1, 10);
      await eventually(() => expect(endpoint.requests).toHaveLength(200));
      const firstIds = endpoint.requests.map((request) => request.headers["webhook-id"]);
      const rewound = await api.post("/v1/subscriptions/rewound-hook/rewind", { fromSequence: sequences[100]! }, created.body.token);
      expect(rewound.body).toMatchObject({ requeued: 100 });
      await eventually(() => expect(endpoint.requests).toHaveLength(300));
      const again = endpoint.requests.slice(200).map((request) => request.headers["webhook-id"]);
      expect(new Set(again)).toEqual(new Set(firstIds.slice(100)));
      expect(new Set(again).size).toBe(100);
      const bySubject = new Map<string, number>();
      for (const request of endpoint.requests.slice(200)) {
        const notification = JSON.parse(request.body);
        expect(notification.data.version).toBeGreaterThan(bySubject.get(notification.subject) ?? 0);
        bySubject.set(notification.subject, notification.data.version);
      }
    } finally {
      await endpoint.close();
    }
  });
});
