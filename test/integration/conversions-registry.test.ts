import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { cancelledAnnual, requestConversion } from "../support/registry.js";
import { expectEachHourIssuedOnce, hourlyCommandStates } from "../support/registry-conversions.js";
import { startRegistryEmulator, type TestRegistryEmulator } from "../support/registry-emulator.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let registry: TestRegistryEmulator;
let system: TestSystem;

// The registry answers each batch of 1,000 slowly and commits over seconds, so outages can land
// mid-send (some hours sent, others not) and later with some hours committed and others pending.
const SLOW = { acceptLatencyMs: 300, commitLatencyMs: { min: 1, max: 3000 } };

beforeAll(async () => {
  registry = await startRegistryEmulator({ faults: SLOW });
  system = await startTestSystem({ env: { CERTFLOW_REGISTRY_URL: registry.url } });
});
afterAll(async () => {
  await system?.destroy();
  await registry?.stop();
});

const metrics = async () => (await system.api.get("/metrics")).body as string;
/** Sends the registry provably did not receive, so far (the connector sends the same bytes again later). */
const notReceived = async () => Number(/^certflow_registry_send_total\{outcome="not_received"\} (\d+)$/m.exec(await metrics())?.[1] ?? 0);

describe.each([
  { mode: "refuse" as const, shows: "connections refused" },
  { mode: "503" as const, shows: "503 with Registry-Received: false" },
])("a leap-year conversion with the registry down in the middle ($shows)", ({ mode }) => {
  it("issues 8,784 hourly certificates through the registry, summing exactly, no hour issued twice, and ends done", async () => {
    registry.setFaults({ ...SLOW, unavailable: "off" });
    const annual = await cancelledAnnual(system.api, ADMIN_TOKEN, { year: 2024, quantityWh: 987_654_321_987 });
    const conversionId = await requestConversion(system.api, ADMIN_TOKEN, { annualCertificateId: annual.certificateId, profile: { kind: "uniform" } });
    const hourlyReceipts = () => registry.receipts().filter((receipt) => receipt.certificateId.startsWith(`${annual.certificateId}-h`)).length;
    const states = () => hourlyCommandStates(system.db, conversionId);

    /** While it is down: certflow sees the outage, stays ready, fails nothing, receives nothing new; the conversion waits. */
    const down = async (evidence: () => Promise<void>) => {
      const received = registry.receipts().length;
      registry.setFaults({ unavailable: mode });
      await eventually(async () => expect(await metrics()).toMatch(/^certflow_registry_reachable 0$/m), { timeoutMs: 30_000 });
      await evidence();
      expect((await system.api.get("/readyz")).status).toBe(200);
      const during = await states();
      expect(during.failed, JSON.stringify(during)).toBeUndefined();
      expect(during.committed ?? 0, JSON.stringify(during)).toBeLessThan(8784);
      expect((await system.api.get(`/v1/conversions/${conversionId}`, ADMIN_TOKEN)).body.status).toBe("persisted");
      expect(registry.receipts().length, "nothing received while the registry is down").toBe(received);
      registry.setFaults({ unavailable: "off" });
    };

    // 1. Down mid-send: a batch is in the registry's hands awaiting its answer, every hour sent before it
    // was received, the rest waits queued; the next send is refused.
    await eventually(
      async () => {
        const first = await states();
        const received = hourlyReceipts();
        const then = await states();
        expect(then, "no send began meanwhile").toEqual(first);
        expect(then.sending ?? 0, JSON.stringify(then)).toBeGreaterThan(0);
        expect(then.queued ?? 0, JSON.stringify(then)).toBeGreaterThan(0);
        expect(received, JSON.stringify(then)).toBe(8784 - then.queued!);
      },
      { timeoutMs: 120_000, intervalMs: 10 },
    );
    const refused = await notReceived();
    await down(() => eventually(async () => expect(await notReceived()).toBeGreaterThan(refused), { timeoutMs: 30_000 }));

    // 2. Down again with some hours committed and others pending: their status cannot be asked.
    await eventually(
      async () => {
        const found = await states();
        expect(found.committed ?? 0, JSON.stringify(found)).toBeGreaterThan(0);
        expect(found.committed ?? 0, JSON.stringify(found)).toBeLessThan(8784);
      },
      { timeoutMs: 120_000, intervalMs: 10 },
    );
    // Status queries fail while it is down (reachable 0 again); the commands wait as sent.
    await down(async () => expect((await states()).sent ?? 0).toBeGreaterThan(0));

    const done = await eventually(
      async () => {
        const { body } = await system.api.get(`/v1/conversions/${conversionId}`, ADMIN_TOKEN);
        expect(body.status, JSON.stringify({ error: body.error, hours: await hourlyCommandStates(system.db, conversionId) })).toBe("done");
        return body;
      },
      // Generous: beside the whole suite on two cores this runs several times slower than alone (~35 s).
      { timeoutMs: 420_000, intervalMs: 100 },
    );
    expect(done).toMatchObject({ counts: { hours: 8784, hourlyCertificates: 8784, quantityWh: 987_654_321_987 }, validation: { valid: true } });
    expect((await system.api.get(`/v1/certificates/${annual.certificateId}-h8783`, ADMIN_TOKEN)).body.periodStart).toBe("2024-12-31T23:00:00.000Z");
    await eventually(async () => expect(await metrics()).toMatch(/^certflow_registry_reachable 1$/m));
    await expectEachHourIssuedOnce({ db: system.db, registry, annual, conversionId, hours: 8784 });
  }, 720_000);
});
