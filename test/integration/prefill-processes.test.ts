import { readFileSync } from "node:fs";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN, isolation, startTestSystem, type TestSystem } from "../support/system.js";
import { createProducer, createSubscription, issued, pull } from "../support/fixtures.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { expectOneHeadPerSubject } from "../support/ledger.js";
import { PHASE_CODE } from "../../src/mom/ledger/ledger.js";

let system: TestSystem | undefined;
let worker: ServiceProcess | undefined;

afterEach(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
  worker = undefined;
  await system?.destroy();
  system = undefined;
});

/** Fills the read model directly: these tests are about copying it out, not about projecting it. */
async function seedReadModel(target: TestSystem, count: number) {
  await sql`
    INSERT INTO certificate_states (certificate_id, kind, device_id, grid_area, energy_source, owner, status,
      period_start, period_end, quantity_wh, version, last_seq, state)
    SELECT id, 'annual', 'device-1', 'DK1', 'wind', 'owner-a', 'active', '2025-01-01Z', '2026-01-01Z', 1000000, 1, 0,
      jsonb_build_object('certificateId', id, 'kind', 'annual', 'deviceId', 'device-1', 'gridArea', 'DK1', 'energySource', 'wind',
        'periodStart', '2025-01-01T00:00:00.000Z', 'periodEnd', '2026-01-01T00:00:00.000Z', 'quantityWh', 1000000,
        'owner', 'owner-a', 'status', 'active', 'version', 1)
    FROM (SELECT 'cert-' || lpad(i::text, 7, '0') AS id FROM generate_series(1, ${count}) i) ids
  `.execute(target.db);
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) * 1024;
}

async function prefillOf(target: TestSystem, name: string) {
  return (await target.api.get(`/v1/subscriptions/${name}`, ADMIN_TOKEN)).body.prefill as { status: string; total: number; sent: number };
}

describe("prefill in its own process", () => {
  it("prefills 200,000 certificates with the process's memory bounded", async () => {
    const iso = isolation();
    system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,dispatcher,consumer" } });
    await seedReadModel(system, 200_000);
    worker = await startServiceProcess({ ...iso.env, SERVICES: "prefill" });
    const pid = worker.child.pid!;
    const before = rssBytes(pid);

    // The snapshot is held halfway, so its progress can be seen however fast it runs: the read model
    // is locked until a row the snapshot will write at sequence 100,001 is taken (uncommitted) by
    // the test, and that row is let go once the progress shows.
    const readModelLock = await system.db.startTransaction().execute();
    await sql`LOCK TABLE certificate_states IN ACCESS EXCLUSIVE MODE`.execute(readModelLock);
    const subscription = await createSubscription(system.api, { prefill: true });
    const halfway = await system.db.startTransaction().execute();
    await halfway
      .insertInto("deliveries")
      .values({ subscription_id: subscription.id, phase: PHASE_CODE.prefill, seq: 100_001, subject: "held-halfway", payload: null })
      .execute();
    await readModelLock.rollback().execute();

    let peak = before;
    const progress: number[] = [];
    // Memory and progress are sampled on every look until the prefill is done.
    const sample = async () => {
      peak = Math.max(peak, rssBytes(pid));
      const prefill = await prefillOf(system!, subscription.name);
      progress.push(prefill.sent);
      return prefill;
    };
    await eventually(async () => expect((await sample()).sent).toBeGreaterThan(0), { timeoutMs: 120_000, intervalMs: 50 });
    await halfway.rollback().execute();
    await eventually(async () => expect((await sample()).status).toBe("done"), { timeoutMs: 120_000, intervalMs: 50 });
    const final = await prefillOf(system, subscription.name);
    expect(final).toMatchObject({ status: "done", total: 200_000, sent: 200_000 });
    // Progress was reported on the way, not only at the end.
    expect(progress.some((sent) => sent > 0 && sent < 200_000)).toBe(true);
    console.log(`prefill RSS: ${(before / 2 ** 20).toFixed(0)} MiB before, ${(peak / 2 ** 20).toFixed(0)} MiB peak`);
    expect(peak - before).toBeLessThan(64 * 2 ** 20);
    expect(worker.logs.some((line) => line.msg === "prefill progress")).toBe(true);

    const first = await pull(system.api, subscription.name, subscription.token, "max=5&wait=1");
    expect(first.map((m) => m.sequence)).toEqual([1, 2, 3, 4, 5]);
  }, 180_000);

  it("restarts a prefill whose worker was killed: one whole snapshot, never a part or a mix", async () => {
    const iso = isolation();
    system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,dispatcher,consumer" } });
    await seedReadModel(system, 100_000);
    // The smallest pages: the run lasts long enough (a thousand pages) for the kill to land mid-run.
    const workerEnv = { ...iso.env, SERVICES: "prefill", CERTFLOW_PREFILL_PAGE_SIZE: "100", CERTFLOW_PREFILL_STALE_SECONDS: "2" };
    worker = await startServiceProcess(workerEnv);
    const subscription = await createSubscription(system.api, { prefill: true });

    let killedAt: { sent: number; total: number } | undefined;
    await eventually(
      async () => {
        const prefill = await prefillOf(system!, subscription.name);
        if (!(prefill.status === "running" && prefill.sent > 0 && prefill.sent < prefill.total)) return false;
        worker!.child.kill("SIGKILL");
        await worker!.exited;
        killedAt = prefill;
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 20, what: "the prefill to be mid-run" },
    );
    expect(killedAt, "the prefill was killed mid-run").toBeDefined();
    // Nothing of the interrupted run is visible.
    const partial = await system.db.selectFrom("deliveries").select((eb) => eb.fn.countAll<number>().as("n")).where("phase", "=", 0).executeTakeFirstOrThrow();
    expect(Number(partial.n)).toBe(0);
    expect(await pull(system.api, subscription.name, subscription.token)).toEqual([]);

    worker = await startServiceProcess(workerEnv);
    await eventually(async () => expect((await prefillOf(system!, subscription.name)).status).toBe("done"), { timeoutMs: 120_000, intervalMs: 100 });
    expect(await prefillOf(system, subscription.name)).toMatchObject({ status: "done", total: 100_000, sent: 100_000 });
    const ledger = await sql<{ rows: number; subjects: number; snapshots: number; min: number; max: number; markers: number }>`
      SELECT count(*)::int AS rows, count(DISTINCT subject)::int AS subjects,
             (SELECT count(*) FROM prefill_snapshots)::int AS snapshots, min(seq)::int AS min, max(seq)::int AS max,
             (SELECT count(*) FROM deliveries WHERE phase = 0 AND subject = '' AND seq = 100001)::int AS markers
      FROM deliveries WHERE phase = 0 AND subject <> ''
    `.execute(system.db);
    expect(ledger.rows[0]).toEqual({ rows: 100_000, subjects: 100_000, snapshots: 1, min: 1, max: 100_000, markers: 1 });
    // Every message of it is of that one snapshot, and each keeps its id when handed out again.
    const first = await pull(system.api, subscription.name, subscription.token, "max=1000&wait=1");
    expect(new Set(first.map((m) => m.notification.time)).size).toBe(1);
    expect(first[0]!.notification).toMatchObject({ type: "certificate.snapshot", channel: "prefill", correlationId: first[0]!.notification.id });
    await system.api.post(`/v1/subscriptions/${subscription.name}/nacks`, { ackIds: [first[0]!.ackId] }, subscription.token);
    const [again] = await pull(system.api, subscription.name, subscription.token, "max=1&wait=1");
    expect(again!.notification.id).toBe(first[0]!.notification.id);
    await expectOneHeadPerSubject(system.db);
  }, 180_000);

  it("projects idempotently: killed mid-stream and restarted, it gives the table an uninterrupted run gives", async () => {
    const iso = isolation();
    system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,dispatcher,consumer" } });
    const producer = await createProducer(system.api);
    const expected = new Map<string, { version: number; owner: string }>();
    const certificates = 2000;
    let lastSeq = 0;
    for (let version = 1; version <= 25; version++) {
      const notifications = Array.from({ length: certificates }, (_, i) => {
        const id = `cert-${i}`;
        if (version === 1) return issued(id);
        return { type: "certificate.transferred", subject: id, data: { ...issued(id).data, version, owner: `owner-${version}`, previousOwner: "x" } };
      }).filter((_, i) => version === 1 || (i + version) % 3 === 0);
      for (let start = 0; start < notifications.length; start += 1000) {
        const response = await system.api.post("/v1/notifications/batch", { notifications: notifications.slice(start, start + 1000) }, producer);
        lastSeq = Math.max(lastSeq, ...response.body.results.map((r: { sequence: number }) => r.sequence));
      }
      for (const n of notifications) expected.set(n.subject, { version, owner: (n.data as { owner: string }).owner });
    }

    const workerEnv = { ...iso.env, SERVICES: "prefill" };
    worker = await startServiceProcess(workerEnv);
    const position = async () =>
      (await system!.db.selectFrom("consumer_positions").select("seq").where("name", "=", "projection").executeTakeFirst())?.seq ?? 0;
    let killedAt = 0;
    await eventually(
      async () => {
        const seq = await position();
        if (!(seq > 0 && seq < lastSeq)) return false;
        worker!.child.kill("SIGKILL");
        await worker!.exited;
        killedAt = seq;
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 5, what: "the projection to be mid-stream" },
    );
    expect(killedAt, "killed mid-stream").toBeGreaterThan(0);
    worker = await startServiceProcess(workerEnv);
    await eventually(async () => expect(await position()).toBe(lastSeq), { timeoutMs: 60_000, intervalMs: 50 });

    const rows = await system.db.selectFrom("certificate_states").select(["certificate_id", "version", "owner", "state"]).execute();
    expect(rows).toHaveLength(certificates);
    for (const row of rows) {
      expect({ version: row.version, owner: row.owner }, row.certificate_id).toEqual(expected.get(row.certificate_id));
      expect((row.state as { version: number }).version).toBe(row.version);
    }
  }, 180_000);
});
