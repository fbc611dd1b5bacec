import { afterEach, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { createProducer, createSubscription } from "../support/fixtures.js";
import { expectDeliveredOnceInOrder, OutageLoad } from "../support/load.js";
import { startNatsServer, startPostgresCluster, type NatsServer, type PostgresCluster } from "../support/servers.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
let postgres: PostgresCluster | undefined;
let nats: NatsServer | undefined;

afterEach(async () => {
  await system?.destroy();
  await postgres?.destroy();
  await nats?.destroy();
  system = postgres = nats = undefined;
});

const SUBJECTS = 4;

/** Waits until the load has had `more` notifications accepted beyond what it had when called. */
async function moreAccepted(load: OutageLoad, more: number): Promise<void> {
  const from = load.acceptedCount;
  await eventually(() => expect(load.acceptedCount).toBeGreaterThanOrEqual(from + more), { timeoutMs: 60_000 });
}

/** Waits until requests have been answered 503 `unavailable` with Retry-After `count` more times. */
async function moreUnavailable(load: OutageLoad, count: number, timeoutMs = 30_000): Promise<void> {
  const from = load.unavailable;
  await eventually(() => expect(load.unavailable).toBeGreaterThanOrEqual(from + count), { timeoutMs });
}

async function expectAnswering(current: TestSystem): Promise<void> {
  const health = await current.api.get("/healthz");
  expect(health.status).toBe(200);
}

it("survives PostgreSQL stopping (fast, then immediate) under load: 503 while down, everything delivered once in order after", async () => {
  postgres = await startPostgresCluster();
  system = await startTestSystem({ env: { DATABASE_URL: postgres.url } });
  const current = system;
  const producer = await createProducer(current.api);
  const subscription = await createSubscription(current.api, { filters: [{ types: ["*"] }] });
  const load = new OutageLoad(current.api, producer, SUBJECTS);

  for (const mode of ["fast", "immediate"] as const) {
    await moreAccepted(load, 40);
    await postgres.stop(mode);
    await moreUnavailable(load, 10);
    await expectAnswering(current);
    const pulled = await current.api.get(`/v1/subscriptions/${subscription.name}/messages?max=10&wait=0`, subscription.token);
    // The token may still be cached: the pull itself then meets the database and is refused.
    expect(pulled.status).toBe(503);
    expect(pulled.headers.get("retry-after")).toBeTruthy();
    await postgres.start();
    await moreAccepted(load, 40);
  }
  await load.stop();

  expect(load.unexpected).toEqual([]);
  await expectDeliveredOnceInOrder(current.api, subscription, load.accepted, eventually);
  await expectAnswering(current);
});

it("survives a NATS SIGKILL and restart under load: fast 503s while down, the backlog flows at once after, none lost or doubled", async () => {
  nats = await startNatsServer();
  system = await startTestSystem({ env: { NATS_URL: nats.url } });
  const current = system;
  const producer = await createProducer(current.api);
  const subscription = await createSubscription(current.api, { filters: [{ types: ["*"] }] });
  const load = new OutageLoad(current.api, producer, SUBJECTS);

  await moreAccepted(load, 40);
  await nats.kill();
  // With a publish waiting out its timeout this would take minutes; failing fast, a few seconds.
  await moreUnavailable(load, 40, 10_000);
  await expectAnswering(current);
  await nats.start();
  await moreAccepted(load, 40);
  await load.stop();

  expect(load.unexpected).toEqual([]);
  // Readers re-attach on reconnect: the backlog is through in seconds, not after missed heartbeats.
  await expectDeliveredOnceInOrder(current.api, subscription, load.accepted, eventually, 15_000);
});
