import { afterEach, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { createProducer, createSubscription, issued } from "../support/fixtures.js";
import { asDelivered, expectExactlyOnceInOrder, startPuller, startTraffic } from "../support/cluster.js";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.js";
import { isolation, startTestSystem, type TestSystem } from "../support/system.js";

let cluster: NatsCluster | undefined;
let system: TestSystem | undefined;

afterEach(async () => {
  await system?.stop();
  await system?.db.destroy();
  await cluster?.destroy();
});

it("keeps every accepted notification, exactly once and in order per subject, while a node of a 3-node cluster is SIGKILLed and restarted", async () => {
  cluster = await startNatsCluster(3);
  // This test's own cluster: nothing to share, so its stream is dropped with the servers.
  const iso = isolation({ NATS_URL: cluster.url, CERTFLOW_STREAM_REPLICAS: "3", CERTFLOW_PARTITIONS: "3" });
  system = await startTestSystem({ isolation: iso });

  const ready = await system.api.get("/readyz");
  expect(ready.status).toBe(200);
  expect(ready.body.stream).toMatchObject({ replicas: { wanted: 3, configured: 3 }, cluster: "certflow-test" });
  expect(ready.body.stream.peers).toHaveLength(2);

  const producer = await createProducer(system.api);
  const all = await createSubscription(system.api, { filters: [{ types: ["*"] }] });
  const dk1 = await createSubscription(system.api, { filters: [{ types: ["certificate.issued"], where: { gridArea: ["DK1"] } }] });
  const pullers = [startPuller(system.api, all.name, all.token), startPuller(system.api, dk1.name, dk1.token)];
  const traffic = startTraffic(system.api, producer, { subjects: 20, intervalMs: 30 });
  await eventually(() => expect(pullers[0]!.received.length).toBeGreaterThan(200), { timeoutMs: 30_000 });

  // Kill the stream's leader: the hardest node to lose.
  const leaderName = (await system.api.get("/readyz")).body.stream.leader as string;
  const leader = cluster.nodes.find((node) => node.name === leaderName)!;
  await cluster.kill(leader);
  const atKill = pullers[0]!.received.length;
  await eventually(() => expect(pullers[0]!.received.length).toBeGreaterThan(atKill + 400), { timeoutMs: 60_000 });
  await eventually(async () => {
    const state = await system!.api.get("/readyz");
    expect(state.status).toBe(200);
    expect(state.body.stream.leader).not.toBe(leaderName);
  }, { timeoutMs: 30_000 });

  await cluster.start(leader);
  await eventually(async () => {
    const state = await system!.api.get("/readyz");
    expect(state.body.stream.peers.every((peer: { current: boolean; offline: boolean }) => peer.current && !peer.offline)).toBe(true);
  }, { timeoutMs: 60_000 });
  const atRestart = pullers[0]!.received.length;
  await eventually(() => expect(pullers[0]!.received.length).toBeGreaterThan(atRestart + 200), { timeoutMs: 30_000 });

  const accepted = await traffic.stop();
  const dk1Accepted = new Map([...accepted].filter(([, notification]) => Number(notification.subject.split("-")[1]) % 2 === 0));
  await eventually(() => expect(pullers[0]!.received.length).toBeGreaterThanOrEqual(accepted.size), { timeoutMs: 60_000 });
  await eventually(() => expect(pullers[1]!.received.length).toBeGreaterThanOrEqual(dk1Accepted.size), { timeoutMs: 60_000 });
  // A later sentinel for each: nothing beyond what was accepted arrives before it.
  const sentinel = await system.api.post(
    "/v1/notifications/batch",
    { notifications: [issued("cert-0", { quantityWh: 1, version: 1_000_000 })] },
    producer,
  );
  expect(sentinel.status).toBe(202);
  for (const puller of pullers) {
    await eventually(() => expect(puller.received.some((message) => message.notification.data.version === 1_000_000)).toBe(true), { timeoutMs: 30_000 });
    await puller.stop();
  }
  const withoutSentinel = (puller: (typeof pullers)[number]) => asDelivered(puller.received).filter((message) => message.version !== 1_000_000);
  expectExactlyOnceInOrder(withoutSentinel(pullers[0]!), accepted);
  expectExactlyOnceInOrder(withoutSentinel(pullers[1]!), dk1Accepted);
}, 300_000);
