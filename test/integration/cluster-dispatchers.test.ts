import { afterEach, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { createProducer, createSubscription, issued } from "../support/fixtures.js";
import {
  asDelivered,
  clusterView,
  expectExactlyOnceInOrder,
  expectOwnershipNeverOverlaps,
  ownership,
  startPuller,
  startTraffic,
} from "../support/cluster.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { isolation, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
const children: ServiceProcess[] = [];

afterEach(async () => {
  for (const child of children) child.child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  children.length = 0;
  await system?.destroy();
});

const processIdOf = (child: ServiceProcess) => child.logs.find((line) => line.msg === "certflow started")!.process as string;

it("spreads partitions over three dispatcher processes, moves a killed one's share and rebalances when it returns: exactly once, in order", async () => {
  const iso = isolation({ CERTFLOW_PARTITIONS: "6", CERTFLOW_LEASE_SECONDS: "2" });
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,consumer" } });
  const env = { ...iso.env, SERVICES: "dispatcher" };
  for (let index = 0; index < 3; index++) children.push(await startServiceProcess(env));

  // Fair shares: 6 partitions, 3 processes, 2 each.
  await eventually(async () => {
    const shares = ownership(await clusterView(system!.api), "dispatcher");
    expect([...shares.values()].map((units) => units.length)).toEqual([2, 2, 2]);
  }, { timeoutMs: 30_000 });

  const producer = await createProducer(system.api);
  const subscription = await createSubscription(system.api, { filters: [{ types: ["*"] }] });
  const puller = startPuller(system.api, subscription.name, subscription.token);
  const traffic = startTraffic(system.api, producer, { subjects: 30, intervalMs: 40 });
  await eventually(() => expect(puller.received.length).toBeGreaterThan(300), { timeoutMs: 30_000 });

  // Kill one mid-flow: its partitions move to the two survivors (3 each).
  const victim = children[0]!;
  const victimId = processIdOf(victim);
  victim.child.kill("SIGKILL");
  await victim.exited;
  await eventually(async () => {
    const shares = ownership(await clusterView(system!.api), "dispatcher");
    expect(shares.has(victimId)).toBe(false);
    expect([...shares.values()].map((units) => units.length).sort()).toEqual([3, 3]);
  }, { timeoutMs: 30_000 });
  const before = puller.received.length;
  await eventually(() => expect(puller.received.length).toBeGreaterThan(before + 300), { timeoutMs: 30_000 });

  // Start it again: the shares rebalance to 2, 2, 2.
  children[0] = await startServiceProcess(env);
  await eventually(async () => {
    const shares = ownership(await clusterView(system!.api), "dispatcher");
    expect([...shares.values()].map((units) => units.length)).toEqual([2, 2, 2]);
  }, { timeoutMs: 30_000 });
  const rebalanced = puller.received.length;
  await eventually(() => expect(puller.received.length).toBeGreaterThan(rebalanced + 300), { timeoutMs: 30_000 });

  const accepted = await traffic.stop();
  await eventually(() => expect(puller.received.length).toBeGreaterThanOrEqual(accepted.size), { timeoutMs: 60_000 });
  // A sentinel after everything: nothing more (no duplicate) arrives before it.
  const sentinel = await system.api.post("/v1/notifications/batch", { notifications: [issued("sentinel", { quantityWh: 1 })] }, producer);
  expect(sentinel.status).toBe(202);
  await eventually(() => expect(puller.received.some((message) => message.notification.subject === "sentinel")).toBe(true), { timeoutMs: 30_000 });
  await puller.stop();
  expectExactlyOnceInOrder(asDelivered(puller.received.filter((message) => message.notification.subject !== "sentinel")), accepted);

  const history = await expectOwnershipNeverOverlaps(system.db, "dispatcher");
  expect(history.some((row) => row.owner === victimId && row.end_reason === "expired"), "the killed process's leases expired").toBe(true);
  expect(history.some((row) => row.end_reason === "released"), "the rebalance handed leases back").toBe(true);
}, 240_000);
