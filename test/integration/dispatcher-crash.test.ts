import { afterEach, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { isolation, startTestSystem, type Isolation, type TestSystem } from "../support/system.js";
import { createProducer, createSubscription, drain, issued, pull, type PulledMessage } from "../support/fixtures.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { expectOneHeadPerSubject } from "../support/ledger.js";

let system: TestSystem | undefined;
let dispatcher: ServiceProcess | undefined;

afterEach(async () => {
  dispatcher?.child.kill("SIGKILL");
  await dispatcher?.exited;
  await system?.destroy();
});

function checkExactlyOnceInOrder(received: PulledMessage[], expectedIds: Set<string>) {
  const ids = received.map((m) => m.notification.id);
  expect(new Set(ids).size, "no duplicates").toBe(ids.length);
  expect(ids.length).toBe(expectedIds.size);
  for (const id of ids) expect(expectedIds.has(id)).toBe(true);
  const lastVersion = new Map<string, number>();
  for (const message of received) {
    const { subject, data } = message.notification;
    expect(data.version, `order of ${subject}`).toBeGreaterThan(lastVersion.get(subject) ?? 0);
    lastVersion.set(subject, data.version);
  }
}

it("delivers every accepted notification exactly once, in per-subject order, across dispatcher SIGKILLs", async () => {
  const iso: Isolation = isolation();
  // This process serves the API; the dispatcher runs as its own process, killed twice mid-flow.
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,consumer" } });
  const dispatcherEnv = { ...iso.env, SERVICES: "dispatcher", LOG_LEVEL: "info" };
  dispatcher = await startServiceProcess(dispatcherEnv);

  const producer = await createProducer(system.api);
  const all = await createSubscription(system.api, { filters: [{ types: ["*"] }] });
  const dk1 = await createSubscription(system.api, { filters: [{ types: ["certificate.issued"], where: { gridArea: ["DK1"] } }] });

  const subjects = 40;
  let killsDone = false;
  const expectedAll = new Set<string>();
  const expectedDk1 = new Set<string>();
  const received: PulledMessage[] = [];
  const publishing = (async () => {
    // Traffic flows until both kills have happened, so each lands mid fan-out.
    for (let version = 1; !killsDone || version <= 10; version++) {
      // The backlog is kept within bounds: the next batch goes once the subscriber is within 1,000 of what was accepted.
      await eventually(() => expect(received.length).toBeGreaterThanOrEqual(expectedAll.size - 1_000), { timeoutMs: 60_000 });
      const notifications = Array.from({ length: subjects }, (_, s) =>
        issued(`cert-${s}`, { version, gridArea: s % 2 === 0 ? "DK1" : "DK2" }),
      );
      const response = await system!.api.post("/v1/notifications/batch", { notifications }, producer);
      expect(response.status).toBe(202);
      response.body.results.forEach((result: { id: string; duplicate: boolean }, s: number) => {
        expect(result.duplicate).toBe(false);
        expectedAll.add(result.id);
        if (s % 2 === 0) expectedDk1.add(result.id);
      });
    }
  })();

  // Consume one subscription while the dispatcher is killed and restarted.
  let consuming = true;
  const consumer = (async () => {
    while (consuming) received.push(...(await drain(system!.api, all.name, all.token, 1, 1000)));
  })();

  // Each kill lands while notifications are accepted and dispatched: after a few hundred more of them.
  for (let kill = 0; kill < 2; kill++) {
    const accepted = expectedAll.size;
    await eventually(() => expect(expectedAll.size).toBeGreaterThanOrEqual(accepted + 200), { timeoutMs: 30_000 });
    dispatcher.child.kill("SIGKILL");
    await dispatcher.exited;
    dispatcher = await startServiceProcess(dispatcherEnv);
  }
  killsDone = true;
  await publishing;
  consuming = false;
  await consumer;

  // A last version of every subject is the sentinel: a copy of anything earlier would be queued before it.
  const sentinels = Array.from({ length: subjects }, (_, s) => issued(`cert-${s}`, { version: 1_000_000, gridArea: s % 2 === 0 ? "DK1" : "DK2" }));
  const posted = await system.api.post("/v1/notifications/batch", { notifications: sentinels }, producer);
  expect(posted.status).toBe(202);
  posted.body.results.forEach((result: { id: string }, s: number) => {
    expectedAll.add(result.id);
    if (s % 2 === 0) expectedDk1.add(result.id);
  });

  received.push(...(await drain(system.api, all.name, all.token, expectedAll.size - received.length, 60_000)));
  expect(await pull(system.api, all.name, all.token)).toEqual([]);
  checkExactlyOnceInOrder(received, expectedAll);

  const dk1Received = await drain(system.api, dk1.name, dk1.token, expectedDk1.size, 60_000);
  expect(await pull(system.api, dk1.name, dk1.token)).toEqual([]);
  checkExactlyOnceInOrder(dk1Received, expectedDk1);
  await expectOneHeadPerSubject(system.db);
}, 120_000);
