import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { ack, createProducer, createSubscription, issued, pull, type PulledMessage } from "../support/fixtures.js";
import { expectOneHeadPerSubject } from "../support/ledger.js";

let system: TestSystem | undefined;
afterEach(async () => {
  await system?.destroy();
  system = undefined;
});

async function issueCertificates(api: TestSystem["api"], producer: string, count: number, data: (i: number) => Record<string, unknown> = () => ({})) {
  for (let start = 0; start < count; start += 1000) {
    const notifications = Array.from({ length: Math.min(1000, count - start) }, (_, k) => issued(`cert-${String(start + k).padStart(6, "0")}`, data(start + k)));
    const response = await api.post("/v1/notifications/batch", { notifications }, producer);
    expect(response.status).toBe(202);
  }
}

async function waitForReadModel(target: TestSystem, count: number, timeoutMs = 60_000) {
  await eventually(
    async () => {
      const row = await target.db.selectFrom("certificate_states").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
      expect(Number(row.n), "certificates in the read model").toBeGreaterThanOrEqual(count);
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Waits until the dispatcher has journaled `accepted` notifications and the projection has read them all. */
async function waitForCaughtUp(target: TestSystem, accepted: number, timeoutMs = 60_000) {
  await eventually(
    async () => {
      const journal = await target.db
        .selectFrom("notifications")
        .select((eb) => [eb.fn.countAll<number>().as("n"), eb.fn.max("seq").as("last")])
        .executeTakeFirstOrThrow();
      expect(Number(journal.n), "notifications journaled").toBe(accepted);
      const projection = await target.db.selectFrom("consumer_positions").select("seq").where("name", "=", "projection").executeTakeFirst();
      expect(Number(projection?.seq ?? 0), "the projection's position").toBeGreaterThanOrEqual(Number(journal.last));
    },
    { timeoutMs, intervalMs: 100 },
  );
}

async function waitForPrefill(target: TestSystem, name: string, status: string, timeoutMs = 60_000) {
  return eventually(
    async () => {
      const response = await target.api.get(`/v1/subscriptions/${name}`, ADMIN_TOKEN);
      expect(response.body.prefill.status, `prefill of ${name}: ${JSON.stringify(response.body.prefill)}`).toBe(status);
      return response.body;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

describe("prefill", () => {
  it("sends one snapshot per matching certificate, then the live changes, and reports progress", async () => {
    system = await startTestSystem({ env: { CERTFLOW_PREFILL_PAGE_SIZE: "100" } });
    const producer = await createProducer(system.api);
    await issueCertificates(system.api, producer, 500, (i) => ({ gridArea: i % 2 === 0 ? "DK1" : "DK2" }));
    await waitForReadModel(system, 500);

    const subscription = await createSubscription(system.api, {
      prefill: true,
      filters: [{ types: ["certificate.*"], where: { gridArea: ["DK1"] } }],
    });
    const created = await system.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
    expect(["pending", "running", "done"]).toContain(created.body.prefill.status);
    await system.api.post("/v1/notifications", issued("cert-000000", { version: 2, owner: "new-owner" }, { type: "certificate.transferred", data: { ...issued("cert-000000").data, version: 2, owner: "new-owner", previousOwner: "owner-a" } }), producer);

    const done = await waitForPrefill(system, subscription.name, "done");
    expect(done.prefill).toMatchObject({ enabled: true, status: "done", total: 250, sent: 250 });

    const received: PulledMessage[] = [];
    for (let round = 0; round < 20 && received.length < 252; round++) {
      const batch = await pull(system.api, subscription.name, subscription.token, "max=1000&wait=1");
      received.push(...batch);
      await ack(system.api, subscription.name, subscription.token, batch);
    }
    const snapshots = received.filter((m) => m.notification.type === "certificate.snapshot");
    expect(snapshots).toHaveLength(250);
    expect(snapshots.map((m) => m.sequence)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(snapshots[0]!.notification).toMatchObject({ type: "certificate.snapshot", channel: "prefill", source: { name: "certflow" } });
    expect(snapshots.every((m) => m.notification.data.gridArea === "DK1")).toBe(true);
    const live = received.filter((m) => m.phase === "live");
    // The transfer was accepted after the subscription: delivered live unless the snapshot already holds it.
    const snapshotOfFirst = snapshots.find((m) => m.notification.subject === "cert-000000")!;
    if (snapshotOfFirst.notification.data.version === 1) expect(live.map((m) => m.notification.type)).toEqual(["certificate.transferred"]);
    else expect(live).toEqual([]);
    // Every prefill message came before any live one, the boundary marker last of them.
    expect(received.slice(0, 250).every((m) => m.phase === "prefill")).toBe(true);
    expect(received[250]).toMatchObject({ phase: "prefill", sequence: 251, notification: { type: "prefill.completed", channel: "prefill" } });
    expect(received[250]!.notification.data).toEqual({ subscriptionId: subscription.id, count: 250, position: expect.any(Number) });
    expect(received.filter((m) => m.notification.type === "prefill.completed")).toHaveLength(1);
  });

  it("delivers no live message before every prefill message is acked", async () => {
    system = await startTestSystem();
    const producer = await createProducer(system.api);
    await issueCertificates(system.api, producer, 3);
    await waitForReadModel(system, 3);
    const subscription = await createSubscription(system.api, { prefill: true, ackTimeoutSeconds: 1 });
    await waitForPrefill(system, subscription.name, "done");
    await system.api.post("/v1/notifications", issued("cert-new"), producer);
    const snapshots = await pull(system.api, subscription.name, subscription.token, "max=10&wait=1");
    expect(snapshots.map((m) => m.phase)).toEqual(["prefill", "prefill", "prefill"]);
    await ack(system.api, subscription.name, subscription.token, snapshots.slice(0, 2));
    // One prefill message is still out: the live one waits, even after its lease expires.
    expect(await pull(system.api, subscription.name, subscription.token, "max=10&wait=0")).toEqual([]);
    const redelivered = await pull(system.api, subscription.name, subscription.token, "max=10&wait=3");
    expect(redelivered.map((m) => [m.phase, m.deliveryCount])).toEqual([["prefill", 2]]);
    await ack(system.api, subscription.name, subscription.token, redelivered);
    // The boundary comes after every snapshot is finished, and alone: the live one waits for it too.
    const marker = await pull(system.api, subscription.name, subscription.token, "max=10&wait=2");
    expect(marker.map((m) => [m.phase, m.notification.type, m.notification.data.count])).toEqual([["prefill", "prefill.completed", 3]]);
    await ack(system.api, subscription.name, subscription.token, marker);
    const live = await pull(system.api, subscription.name, subscription.token, "max=10&wait=2");
    expect(live.map((m) => [m.phase, m.notification.subject])).toEqual([["live", "cert-new"]]);
  });

  it("keeps an exact seam under load: the subscriber's copy equals the read model, no version ever goes back", async () => {
    system = await startTestSystem({ env: { CERTFLOW_PREFILL_PAGE_SIZE: "2000" } });
    const producer = await createProducer(system.api);
    const certificates = 20_000;
    await issueCertificates(system.api, producer, certificates);
    await waitForReadModel(system, certificates);

    const versions = new Map<string, number>();
    let changing = true;
    let changes = 0;
    const changer = (async () => {
      while (changing) {
        const notifications = Array.from({ length: 200 }, () => {
          const id = `cert-${String(Math.floor(Math.random() * certificates)).padStart(6, "0")}`;
          return id;
        })
          .filter((id, index, all) => all.indexOf(id) === index)
          .map((id) => {
            const version = (versions.get(id) ?? 1) + 1;
            versions.set(id, version);
            const owner = `owner-${version}`;
            return {
              type: "certificate.transferred",
              subject: id,
              data: { ...issued(id).data, version, owner, previousOwner: version === 2 ? "owner-a" : `owner-${version - 1}` },
            };
          });
        const response = await system!.api.post("/v1/notifications/batch", { notifications }, producer);
        expect(response.status).toBe(202);
        changes += notifications.length;
      }
    })();

    // Changes are flowing before the subscription is made, while its prefill runs, and after it is done.
    await eventually(() => expect(changes).toBeGreaterThanOrEqual(400));
    const subscription = await createSubscription(system.api, { prefill: true, filters: [{ types: ["*"] }] });
    await waitForPrefill(system, subscription.name, "done");
    const changesAtDone = changes;
    await eventually(() => expect(changes).toBeGreaterThanOrEqual(changesAtDone + 400));
    changing = false;
    await changer;
    expect(changes).toBeGreaterThan(0);
    // Only once the dispatcher and the projection have taken in every accepted change are the
    // queue's contents and the read model final: the comparison below is between finished states.
    await waitForCaughtUp(system, certificates + changes);

    const local = new Map<string, Record<string, any>>();
    let liveSeen = false;
    let prefillCount = 0;
    let markers = 0;
    for (let idle = 0; idle < 3; ) {
      const batch = await pull(system.api, subscription.name, subscription.token, "max=1000&wait=1");
      if (batch.length === 0) {
        idle++;
        continue;
      }
      idle = 0;
      for (const message of batch) {
        if (message.phase === "prefill") expect(liveSeen, "a prefill message after a live one").toBe(false);
        else liveSeen = true;
        if (message.notification.type === "prefill.completed") {
          expect(message.notification.data.count).toBe(prefillCount);
          markers++;
          continue;
        }
        expect(markers, "a message after the boundary that is not live").toBe(message.phase === "live" ? 1 : 0);
        if (message.phase === "prefill") prefillCount++;
        const data = message.notification.data;
        const previous = local.get(data.certificateId);
        if (previous) expect(data.version, `version of ${data.certificateId} went back`).toBeGreaterThan(previous.version);
        local.set(data.certificateId, data);
      }
      await ack(system.api, subscription.name, subscription.token, batch);
    }
    expect(prefillCount).toBe(certificates);
    expect(markers).toBe(1);

    const readModel = await system.db.selectFrom("certificate_states").select(["certificate_id", "state"]).execute();
    expect(local.size).toBe(readModel.length);
    for (const row of readModel) {
      const { previousOwner: _ignored, ...copy } = local.get(row.certificate_id) ?? {};
      expect(copy, row.certificate_id).toEqual(row.state);
    }
    await expectOneHeadPerSubject(system.db);
  }, 180_000);

  it("fails when the read model cannot catch up, says why, and can be re-run", async () => {
    system = await startTestSystem({ env: { CERTFLOW_PREFILL_CATCHUP_TIMEOUT_SECONDS: "1" } });
    const producer = await createProducer(system.api);
    await issueCertificates(system.api, producer, 3);
    await waitForReadModel(system, 3);
    // Make the read model look behind the stream, as if its projection had stopped.
    await system.db.updateTable("consumer_positions").set({ seq: 0 }).where("name", "=", "projection").execute();
    const subscription = await createSubscription(system.api, { prefill: true });
    const failed = await waitForPrefill(system, subscription.name, "failed");
    expect(failed.prefill.error).toContain("did not reach stream position 3");
    expect(await pull(system.api, subscription.name, subscription.token)).toEqual([]);

    const notFailed = await system.api.post(`/v1/subscriptions/${subscription.name}/prefill`, undefined, ADMIN_TOKEN);
    expect(notFailed.status).toBe(202);
    // The projection moves its position again with the next notification.
    await system.api.post("/v1/notifications", issued("cert-x"), producer);
    await waitForPrefill(system, subscription.name, "done");
    const again = await system.api.post(`/v1/subscriptions/${subscription.name}/prefill`, undefined, subscription.token);
    expect(again.status).toBe(409);
    const snapshots = await pull(system.api, subscription.name, subscription.token, "max=10&wait=1");
    expect(snapshots.filter((m) => m.phase === "prefill").length).toBeGreaterThanOrEqual(3);
  });

  it("refuses a re-run for a subscription without prefill, and for another subscription's token", async () => {
    system = await startTestSystem();
    const plain = await createSubscription(system.api, { name: "plain" });
    const other = await createSubscription(system.api, { name: "other" });
    expect((await system.api.post("/v1/subscriptions/plain/prefill", undefined, ADMIN_TOKEN)).status).toBe(409);
    expect((await system.api.post("/v1/subscriptions/plain/prefill", undefined, other.token)).status).toBe(403);
    expect((await system.api.post("/v1/subscriptions/nope/prefill", undefined, ADMIN_TOKEN)).status).toBe(404);
    expect((await system.api.post("/v1/subscriptions/plain/prefill", undefined)).status).toBe(401);
    expect(plain.id).not.toBe(other.id);
  });

  it("runs several prefills concurrently", async () => {
    system = await startTestSystem({ env: { CERTFLOW_PREFILL_PAGE_SIZE: "100" } });
    const producer = await createProducer(system.api);
    await issueCertificates(system.api, producer, 2000);
    await waitForReadModel(system, 2000);
    const subscriptions = await Promise.all(
      Array.from({ length: 4 }, () => createSubscription(system!.api, { prefill: true })),
    );
    // While they run, each reports its own progress; all finish.
    const seen = new Set<string>();
    await eventually(
      async () => {
        for (const subscription of subscriptions) {
          const response = await system!.api.get(`/v1/subscriptions/${subscription.name}`, subscription.token);
          if (response.body.prefill.status === "done") seen.add(subscription.name);
        }
        expect(seen.size).toBe(4);
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const started = await system.db.selectFrom("prefills").select(["started_at", "updated_at"]).execute();
    const latestStart = Math.max(...started.map((row) => row.started_at!.getTime()));
    const earliestEnd = Math.min(...started.map((row) => row.updated_at.getTime()));
    expect(latestStart).toBeLessThanOrEqual(earliestEnd);
    await expectOneHeadPerSubject(system.db);
  });
});
