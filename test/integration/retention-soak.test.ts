import { sql } from "kysely";
import { afterEach, expect, it } from "vitest";
import { expectOneHeadPerSubject } from "../support/ledger.js";
import { eventually } from "../support/eventually.js";
import { createProducer, createSubscription } from "../support/fixtures.js";
import { sampleEvery, startPuller, startTraffic } from "../support/cluster.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { committed, registerAnnual } from "../support/registry.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  await system?.destroy();
  await receiver?.close();
});

const GROWING = ["notifications", "deliveries", "delivery_attempts", "lease_history", "registry_commands"] as const;

it("keeps every growing table flat at a constant rate when retention is short", async () => {
  system = await startTestSystem({
    env: {
      CERTFLOW_PUSH_ALLOW_PRIVATE: "true",
      CERTFLOW_RETENTION_DELIVERIES: "5s",
      CERTFLOW_RETENTION_DEAD_LETTERS: "5s",
      CERTFLOW_RETENTION_JOURNAL: "10s",
      CERTFLOW_RETENTION_PUSH_ATTEMPTS: "5s",
      CERTFLOW_RETENTION_PREFILL: "5s",
      CERTFLOW_RETENTION_LEASE_HISTORY: "5s",
      CERTFLOW_RETENTION_COMMANDS: "5s",
      CERTFLOW_RETENTION_INTERVAL_SECONDS: "1",
      CERTFLOW_RETENTION_BATCH: "500",
    },
  });
  receiver = await startReceiver();
  const producer = await createProducer(system.api);
  const pulled = await createSubscription(system.api, { filters: [{ types: ["*"] }] });
  // Everything this one gets is rejected at once: dead letters grow too.
  const rejecting = await createSubscription(system.api, { filters: [{ types: ["*"] }] });
  await createSubscription(system.api, { filters: [{ types: ["*"] }], delivery: { mode: "push", url: receiver.url } });
  const puller = startPuller(system.api, pulled.name, pulled.token);
  let rejecting_ = true;
  const rejecter = (async () => {
    while (rejecting_) {
      const batch = await system!.api.get(`/v1/subscriptions/${rejecting.name}/messages?max=500&wait=1`, rejecting.token);
      const ackIds = (batch.body.messages ?? []).map((message: { ackId: string }) => message.ackId);
      if (ackIds.length > 0) await system!.api.post(`/v1/subscriptions/${rejecting.name}/rejects`, { ackIds }, rejecting.token);
    }
  })();
  const traffic = startTraffic(system.api, producer, { subjects: 40, intervalMs: 400 });
  // Registry commands at a steady pace too: one certificate handed back and forth.
  const certificate = await registerAnnual(system.api, ADMIN_TOKEN);
  let transferring = true;
  let transfers = 0;
  const transferrer = (async () => {
    while (transferring) {
      await committed(system!.api, ADMIN_TOKEN, `/v1/certificates/${certificate.certificateId}/transfers`, { to: transfers % 2 === 0 ? "owner-b" : "owner-a" });
      transfers++;
    }
  })();

  const counts = () =>
    Promise.all(GROWING.map(async (table) => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(system!.db)).rows[0]!.n)));
  // Two minutes at a constant rate, sampled every 10 s.
  const samples = await sampleEvery(10_000, 12, counts);

  const accepted = await traffic.stop();
  transferring = false;
  await transferrer;
  rejecting_ = false;
  await rejecter;
  await eventually(() => expect(puller.received.length).toBeGreaterThanOrEqual(accepted.size), { timeoutMs: 60_000 });
  await puller.stop();

  // Retention really removed rows (the figure is not flat because nothing was written) ...
  const horizons = await system.db.selectFrom("retention_horizons").selectAll().execute();
  const removed = new Map(horizons.map((row) => [row.kind, row.removed_rows]));
  for (const kind of ["deliveries", "dead_letters", "journal", "push_attempts", "commands"]) expect(removed.get(kind) ?? 0, kind).toBeGreaterThan(0);
  // ... and each table's size in the last third stays within the range it reached in the first half.
  GROWING.forEach((table, column) => {
    const series = samples.map((sample) => sample[column]!);
    const early = Math.max(...series.slice(2, 6));
    const late = Math.max(...series.slice(8));
    expect(late, `${table} levelled off: ${series.join(", ")}`).toBeLessThanOrEqual(early * 1.5 + 200);
  });
  const commands = samples.map((sample) => sample[4]!);
  expect(transfers, "far more commands than the log keeps").toBeGreaterThan(3 * Math.max(...commands));
  const journal = samples.map((sample) => sample[0]!);
  expect(Math.max(...journal), "the journal held rows").toBeGreaterThan(100);
  expect(accepted.size, "far more than the journal keeps").toBeGreaterThan(3 * Math.max(...journal));

  // Retention took dead letters away from the counts the stats read, as it took their rows.
  await expectOneHeadPerSubject(system.db);

  // A notification past retention: its trace says so rather than presenting a partial tree.
  const history = await system.api.get("/v1/certificates/cert-0/history", ADMIN_TOKEN);
  expect(history.status).toBe(200);
  expect(history.body.pastRetention.truncated).toBe(true);
  expect(history.body.pastRetention.removedBefore).not.toBeNull();
}, 300_000);
