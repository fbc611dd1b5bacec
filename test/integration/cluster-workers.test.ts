import { afterEach, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { createProducer, createSubscription } from "../support/fixtures.js";
import { clusterView, expectOwnershipNeverOverlaps, ownership, startTraffic } from "../support/cluster.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { isolation, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
let receiver: Receiver | undefined;
const children: ServiceProcess[] = [];

afterEach(async () => {
  for (const child of children) child.child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  children.length = 0;
  await system?.destroy();
  await receiver?.close();
});

const processIdOf = (child: ServiceProcess) => child.logs.find((line) => line.msg === "certflow started")!.process as string;

it("runs the projection in one of three prefill processes, moves it when that one is killed, and ends with every certificate's latest state", async () => {
  const iso = isolation({ CERTFLOW_LEASE_SECONDS: "2" });
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,dispatcher,consumer" } });
  const env = { ...iso.env, SERVICES: "prefill" };
  for (let index = 0; index < 3; index++) children.push(await startServiceProcess(env));
  const producer = await createProducer(system.api);
  const traffic = startTraffic(system.api, producer, { subjects: 30, intervalMs: 40 });

  const owner = async () => {
    const owners = [...ownership(await clusterView(system!.api), "projection", "prefill")].filter(([, units]) => units.length > 0);
    expect(owners).toHaveLength(1);
    return owners[0]![0];
  };
  const first = await eventually(owner, { timeoutMs: 30_000 });
  const position = async () => (await system!.db.selectFrom("consumer_positions").select("seq").where("name", "=", "projection").executeTakeFirst())?.seq ?? 0;
  await eventually(async () => expect(await position()).toBeGreaterThan(300), { timeoutMs: 30_000 });

  const victim = children.find((child) => processIdOf(child) === first)!;
  victim.child.kill("SIGKILL");
  await victim.exited;
  const second = await eventually(async () => {
    const now = await owner();
    expect(now).not.toBe(first);
    return now;
  }, { timeoutMs: 30_000 });
  const atMove = await position();
  await eventually(async () => expect(await position()).toBeGreaterThan(atMove + 300), { timeoutMs: 30_000 });
  children[children.indexOf(victim)] = await startServiceProcess(env);

  const accepted = await traffic.stop();
  const latest = new Map<string, number>();
  for (const { subject, version } of accepted.values()) latest.set(subject, Math.max(latest.get(subject) ?? 0, version));
  await eventually(async () => {
    const rows = await system!.db.selectFrom("certificate_states").select(["certificate_id", "version"]).execute();
    expect(new Map(rows.map((row) => [row.certificate_id, row.version]))).toEqual(latest);
  }, { timeoutMs: 60_000 });
  expect(await owner(), "the projection stays where it moved: one owner at a time").toBe(second);
  const history = await expectOwnershipNeverOverlaps(system.db, "projection");
  expect(history.find((row) => row.owner === first)?.end_reason).toBe("expired");
}, 240_000);

it("spreads push pumps over three consumer processes and moves a killed one's: every webhook arrives, in order, never the same attempt twice", async () => {
  const iso = isolation({ CERTFLOW_LEASE_SECONDS: "2", CERTFLOW_PUSH_ALLOW_PRIVATE: "true", CERTFLOW_PUSH_TIMEOUT_SECONDS: "10",
    // The receiver shares this busy process: a late answer is retried soon, not after minutes.
    CERTFLOW_PUSH_RETRY_SCHEDULE: "0,1,1,1,1,1,1,1,1,1" });
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,dispatcher,consumer" } });
  receiver = await startReceiver();
  const env = { ...iso.env, SERVICES: "consumer" };
  for (let index = 0; index < 2; index++) children.push(await startServiceProcess(env));
  const producer = await createProducer(system.api);
  const subscriptions: Array<{ name: string }> = [];
  for (let index = 0; index < 3; index++) {
    subscriptions.push(await createSubscription(system.api, { filters: [{ types: ["*"] }], delivery: { mode: "push", url: `${receiver.url}?s=${index}` } }));
  }
  // Three pumps over three consumer processes: one each.
  await eventually(async () => {
    const shares = ownership(await clusterView(system!.api), "push", "consumer");
    expect([...shares.values()].map((units) => units.length)).toEqual([1, 1, 1]);
  }, { timeoutMs: 30_000 });

  const traffic = startTraffic(system.api, producer, { subjects: 20, intervalMs: 100 });
  await eventually(() => expect(receiver!.requests.length).toBeGreaterThan(300), { timeoutMs: 30_000 });
  const victim = children[0]!;
  const victimId = processIdOf(victim);
  victim.child.kill("SIGKILL");
  await victim.exited;
  await eventually(async () => {
    const shares = ownership(await clusterView(system!.api), "push", "consumer");
    expect(shares.has(victimId)).toBe(false);
    expect([...shares.values()].map((units) => units.length).sort()).toEqual([1, 2]);
  }, { timeoutMs: 30_000 });
  const atMove = receiver.requests.length;
  await eventually(() => expect(receiver!.requests.length).toBeGreaterThan(atMove + 300), { timeoutMs: 30_000 });
  children[0] = await startServiceProcess(env);
  const accepted = await traffic.stop();

  const arrivals = () => {
    const bySubscription = new Map<string, Array<{ id: string; attempt: number; subject: string; version: number }>>();
    for (const request of receiver!.requests) {
      const body = JSON.parse(request.body);
      const list = bySubscription.get(request.headers["certflow-subscription"]!) ?? [];
      list.push({ id: request.headers["webhook-id"]!, attempt: Number(request.headers["certflow-attempt"]), subject: body.subject, version: body.data.version });
      bySubscription.set(request.headers["certflow-subscription"]!, list);
    }
    return bySubscription;
  };
  await eventually(() => {
    for (const subscription of subscriptions) expect(new Set(arrivals().get(subscription.name)?.map((arrival) => arrival.id)).size).toBe(accepted.size);
  }, { timeoutMs: 90_000 });

  for (const subscription of subscriptions) {
    const seen = new Map<string, Set<number>>();
    const last = new Map<string, number>();
    for (const arrival of arrivals().get(subscription.name)!) {
      expect(accepted.has(arrival.id)).toBe(true);
      // A second arrival is a redelivery (the killed process's request in flight), never the same attempt from a second pump.
      const attempts = seen.get(arrival.id) ?? new Set<number>();
      expect(attempts.has(arrival.attempt), `${subscription.name}: ${arrival.id} attempt ${arrival.attempt} twice`).toBe(false);
      attempts.add(arrival.attempt);
      seen.set(arrival.id, attempts);
      if (attempts.size === 1) {
        expect(arrival.version, `order of ${arrival.subject}`).toBeGreaterThan(last.get(arrival.subject) ?? 0);
        last.set(arrival.subject, arrival.version);
      }
    }
  }
  await expectOwnershipNeverOverlaps(system.db, "push");
}, 300_000);
