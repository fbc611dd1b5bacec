import { afterEach, expect, it } from "vitest";
import { isolation, startTestSystem, type Isolation, type TestSystem } from "../support/system.js";
import { createProducer, createSubscription, drain, issued, type PulledMessage } from "../support/fixtures.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { expectOneHeadPerSubject } from "../support/ledger.js";

let system: TestSystem | undefined;
let dispatcher: ServiceProcess | undefined;

afterEach(async () => {
  dispatcher?.child.kill("SIGKILL");
  await dispatcher?.exited;
  await system?.destroy();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  const publishing = (async () => {
    // Traffic flows until both kills have happened, so each lands mid fan-out.
    for (let version = 1; !killsDone || version <= 10; version++) {
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
      await sleep(30);
    }
  })();

  // Consume one subscription while the dispatcher is killed and restarted.
  const received: PulledMessage[] = [];
  let consuming = true;
  const consumer = (async () => {
    while (consuming) received.push(...(await drain(system!.api, all.name, all.token, 1, 1000)));
  })();

  for (const pause of [300, 500]) {
    await sleep(pause);
    dispatcher.child.kill("SIGKILL");
    await dispatcher.exited;
    await sleep(200);
    dispatcher = await startServiceProcess(dispatcherEnv);
  }
  killsDone = true;
  await publishing;
  await sleep(200);
  consuming = false;
  await consumer;

  received.push(...(await drain(system.api, all.name, all.token, expectedAll.size - received.length, 30_000)));
  await sleep(500);
  received.push(...(await drain(system.api, all.name, all.token, 1, 1000)));
  checkExactlyOnceInOrder(received, expectedAll);

  const dk1Received = await drain(system.api, dk1.name, dk1.token, expectedDk1.size, 30_000);
  await sleep(500);
  dk1Received.push(...(await drain(system.api, dk1.name, dk1.token, 1, 1000)));
  checkExactlyOnceInOrder(dk1Received, expectedDk1);
  await expectOneHeadPerSubject(system.db);
}, 120_000);
