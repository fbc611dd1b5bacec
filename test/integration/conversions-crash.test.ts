import { afterEach, expect, it } from "vitest";
import { Api } from "../support/api.js";
import { eventually } from "../support/eventually.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { registryNotification } from "../../src/certificates/book/envelopes.js";
import { cancelledAnnual, registerAnnual, requestConversion } from "../support/registry.js";
import { expectEachHourIssuedOnce, hourlyCommandStates } from "../support/registry-conversions.js";
import { startRegistryEmulator, type TestRegistryEmulator } from "../support/registry-emulator.js";
import { ADMIN_TOKEN, isolation, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
let certflow: ServiceProcess | undefined;
let registry: TestRegistryEmulator | undefined;

afterEach(async () => {
  if (certflow && certflow.child.exitCode === null) {
    certflow.child.kill("SIGKILL");
    await certflow.exited;
  }
  await system?.destroy();
  await registry?.stop();
  system = certflow = registry = undefined;
});

async function kill(process: ServiceProcess) {
  process.child.kill("SIGKILL");
  await process.exited;
}

async function conversionStatus(db: TestSystem["db"], conversionId: string) {
  return (await db.selectFrom("conversions").select("status").where("id", "=", conversionId).executeTakeFirstOrThrow()).status;
}

it("a certflow killed mid-conversion (while sending hours, then with some hours committed and others not) finishes it after restart: 8,760 hours, each issued once", async () => {
  // The registry outlives the killed process, as an external one would. It answers each batch slowly, so a kill lands mid-send.
  registry = await startRegistryEmulator({ faults: { acceptLatencyMs: 500 } });
  const iso = isolation({ CERTFLOW_REGISTRY_URL: registry.url });
  // This process journals every notification; the certificates service and the connector run alone and are killed.
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "dispatcher" } });
  const db = system.db;
  const env = { ...iso.env, SERVICES: "certificates,connector", CERTFLOW_CONVERSION_WORKERS: "1" };
  certflow = await startServiceProcess(env);
  const annual = await cancelledAnnual(new Api(certflow.url), ADMIN_TOKEN, { quantityWh: 1_000_000_007 });
  const conversionId = await requestConversion(new Api(certflow.url), ADMIN_TOKEN, { annualCertificateId: annual.certificateId, profile: { kind: "uniform" } });
  const hourlyReceipts = () => new Set(registry!.receipts().filter((receipt) => receipt.certificateId.startsWith(`${annual.certificateId}-h`)).map((receipt) => receipt.commandId));
  const sendingIds = async () =>
    (await db.selectFrom("registry_commands").select("id").where("parent_id", "=", conversionId).where("state", "=", "sending").execute()).map((row) => row.id);
  // A kill is aimed at a moment when every command in `sending` has reached the registry: one
  // killed on its way out is not received, only asked about, and would stay indeterminate (the
  // registry is not idempotent, so it is never sent again), which is another test's case.
  const everySendingReceived = async () => {
    const received = hourlyReceipts();
    expect((await sendingIds()).filter((id) => !received.has(id)), "commands in sending the registry has not received").toEqual([]);
  };

  // 1. Killed while sending: the registry took a batch in, its answer never reached the process.
  await eventually(
    async () => {
      const states = await hourlyCommandStates(db, conversionId);
      expect(states.sending ?? 0, JSON.stringify(states)).toBeGreaterThan(0);
      expect(hourlyReceipts().size).toBeGreaterThan(0);
      await everySendingReceived();
    },
    { timeoutMs: 120_000, intervalMs: 10 },
  );
  await kill(certflow);
  const sending = await sendingIds();
  const received = hourlyReceipts();
  expect(sending.filter((id) => received.has(id)).length, "commands the registry received while the process died waiting").toBeGreaterThan(0);
  expect(await conversionStatus(db, conversionId)).toBe("persisted");

  // 2. Killed with some hours committed and others not: commits are spread over seconds. The
  // registry holds its answers, so the connector sends one batch and waits: the kill lands once
  // that batch is in, never while one is on its way.
  registry.setFaults({ acceptLatencyMs: 20_000, commitLatencyMs: { min: 1, max: 3000 } });
  certflow = await startServiceProcess(env);
  const midway = await eventually(
    async () => {
      const states = await hourlyCommandStates(db, conversionId);
      expect(states.committed ?? 0, JSON.stringify(states)).toBeGreaterThan(0);
      expect(states.committed ?? 0, JSON.stringify(states)).toBeLessThan(8760);
      await everySendingReceived();
      return states;
    },
    { timeoutMs: 120_000, intervalMs: 10 },
  );
  await kill(certflow);
  registry.setFaults({ acceptLatencyMs: 0 });
  const left = await hourlyCommandStates(db, conversionId);
  expect(left.committed ?? 0, JSON.stringify({ midway, left })).toBeLessThan(8760);
  expect(await conversionStatus(db, conversionId)).toBe("persisted");

  certflow = await startServiceProcess(env);
  const api = new Api(certflow.url);
  const done = await eventually(
    async () => {
      const { body } = await api.get(`/v1/conversions/${conversionId}`, ADMIN_TOKEN);
      expect(body.status, JSON.stringify({ error: body.error, hours: await hourlyCommandStates(db, conversionId) })).toBe("done");
      return body;
    },
    // Generous: beside the whole suite on two cores this resume runs several times slower than alone (~40 s).
    { timeoutMs: 480_000, intervalMs: 100 },
  );
  expect(done).toMatchObject({ counts: { hours: 8760, hourlyCertificates: 8760 }, validation: { valid: true } });
  expect(certflow.logs.find((line) => line.msg === "conversion resumed" && line.conversionId === conversionId)).toMatchObject({ status: "persisted" });
  expect((await api.get(`/v1/certificates/${annual.certificateId}`, ADMIN_TOKEN)).body).toMatchObject({ status: "cancelled", version: 2, conversionId });
  await expectEachHourIssuedOnce({ db, registry, annual, conversionId, hours: 8760 });
}, 900_000);

it("publishes at start-up what a crash left in the outbox: a committed change is never lost", async () => {
  const iso = isolation();
  const first = await startTestSystem({ isolation: iso });
  const certificate = await registerAnnual(first.api, ADMIN_TOKEN);
  await first.stop();

  // What a crash between commit and publish leaves: the change and its notification, committed, unpublished.
  const cancelled = registryNotification(
    { type: "certificate.cancelled", state: { ...stateOf(certificate), status: "cancelled", version: 2 }, time: new Date() },
    "test",
  );
  await first.db.transaction().execute(async (trx) => {
    await trx.updateTable("registry_certificates").set({ status: "cancelled", version: 2 }).where("certificate_id", "=", certificate.certificateId).execute();
    await trx.insertInto("registry_outbox").values({ id: cancelled.id, subject: cancelled.subject, envelope: JSON.stringify(cancelled) }).execute();
  });
  await first.db.destroy();

  system = await startTestSystem({ isolation: iso });
  const types = await eventually(async () => {
    const history = await system!.api.get(`/v1/certificates/${certificate.certificateId}/history`, ADMIN_TOKEN);
    const found: string[] = history.body.notifications.map((entry: { notification: { type: string; id: string } }) => entry.notification.type);
    expect(found.length).toBeGreaterThanOrEqual(2);
    return found;
  });
  expect(types).toEqual(["certificate.issued", "certificate.cancelled"]);
  const left = await system.db.selectFrom("registry_outbox").select("id").execute();
  expect(left).toEqual([]);
});

function stateOf(certificate: Record<string, any>) {
  const { certificateId, kind, deviceId, gridArea, energySource, periodStart, periodEnd, quantityWh, owner, status, version } = certificate;
  return { certificateId, kind, deviceId, gridArea, energySource, periodStart, periodEnd, quantityWh, owner, status, version };
}
