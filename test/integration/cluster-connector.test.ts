import { afterEach, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { clusterView, expectOwnershipNeverOverlaps, ownership } from "../support/cluster.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { startRegistryEmulator, type TestRegistryEmulator } from "../support/registry-emulator.js";
import { WAIT, registerAnnual } from "../support/registry.js";
import { ADMIN_TOKEN, isolation, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
let registry: TestRegistryEmulator | undefined;
const children: ServiceProcess[] = [];

afterEach(async () => {
  for (const child of children) child.child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  children.length = 0;
  await system?.destroy();
  await registry?.stop();
  system = registry = undefined;
});

const processIdOf = (child: ServiceProcess) => child.logs.find((line) => line.msg === "certflow started")!.process as string;

async function connectorOwner(api: TestSystem["api"]): Promise<string> {
  const owners = [...ownership(await clusterView(api), "connector")].filter(([, units]) => units.length > 0);
  expect(owners).toHaveLength(1);
  return owners[0]![0];
}

async function commandStates(db: TestSystem["db"], ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom("registry_commands").select(["id", "state"]).where("id", "in", [...ids]).execute();
  return new Map(rows.map((row) => [row.id, row.state]));
}

it("runs the registry connector in one of two processes and moves it when that one is killed: each command committed and received once (or, never delivered by the killed owner, settled by the operator), one owner at a time", async () => {
  // The registry takes each request in slowly, so a kill mostly lands while a batch is at the registry.
  registry = await startRegistryEmulator({ faults: { acceptLatencyMs: 200 } });
  // A batch the killed owner had claimed but not yet delivered is unknown to the registry: after
  // the grace period it is indeterminate (lock held), and the operator settles it with evidence.
  const iso = isolation({ CERTFLOW_REGISTRY_URL: registry.url, CERTFLOW_LEASE_SECONDS: "2", CERTFLOW_REGISTRY_UNKNOWN_GRACE_MS: "3000" });
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,dispatcher,certificates" } });
  const env = { ...iso.env, SERVICES: "connector" };
  for (let index = 0; index < 2; index++) children.push(await startServiceProcess(env));
  const first = await eventually(() => connectorOwner(system!.api), { timeoutMs: 30_000 });

  const certificates: string[] = [];
  for (let index = 0; index < 6; index++) certificates.push((await registerAnnual(system.api, ADMIN_TOKEN)).certificateId);

  const receiptsOf = (commandId: string) => registry!.receipts().filter((receipt) => receipt.commandId === commandId).length;
  const settled = new Set<string>();
  const settleUndelivered = async (commandId: string) => {
    const response = await system!.api.post(`/v1/commands/${commandId}/resolve`, { outcome: "failed", evidence: "no receipt at the registry: the killed owner never delivered it" }, ADMIN_TOKEN);
    expect(response.status, JSON.stringify(response.body)).toBeLessThan(300);
    settled.add(commandId);
  };

  // Rounds of one transfer per certificate, each round once the one before has ended.
  const accepted: string[] = [];
  let stopped = false;
  let round = 0;
  const traffic = (async () => {
    while (!stopped) {
      round++;
      const ids: string[] = [];
      for (const certificateId of certificates) {
        const response = await system!.api.post(`/v1/certificates/${certificateId}/transfers`, { to: `owner-${round}` }, ADMIN_TOKEN);
        expect(response.status, JSON.stringify(response.body)).toBe(202);
        ids.push(response.body.commandId as string);
      }
      accepted.push(...ids);
      await eventually(async () => {
        const states = await commandStates(system!.db, ids);
        for (const id of ids) if (states.get(id) === "indeterminate" && receiptsOf(id) === 0) await settleUndelivered(id);
        expect([...states.values()].filter((state) => state !== "committed" && state !== "failed")).toEqual([]);
      }, { timeoutMs: 90_000 });
    }
  })();

  await eventually(() => expect(round).toBeGreaterThan(3), { timeoutMs: 60_000 });
  const victim = children.find((child) => processIdOf(child) === first)!;
  victim.child.kill("SIGKILL");
  await victim.exited;
  const second = await eventually(async () => {
    const now = await connectorOwner(system!.api);
    expect(now).not.toBe(first);
    return now;
  }, { timeoutMs: 30_000 });
  const atMove = round;
  await eventually(() => expect(round).toBeGreaterThan(atMove + 3), { timeoutMs: 120_000 });
  stopped = true;
  await traffic;

  const states = await commandStates(system.db, accepted);
  // Committed: received exactly once. Failed: only those the operator settled, never received.
  for (const id of accepted) {
    if (settled.has(id)) expect([states.get(id), receiptsOf(id)], `settled ${id}`).toEqual(["failed", 0]);
    else expect([states.get(id), receiptsOf(id)], `command ${id}`).toEqual(["committed", 1]);
  }
  expect(settled.size, "at most the batch the victim held").toBeLessThanOrEqual(certificates.length);
  for (const certificateId of certificates) {
    const book = (await system.api.get(`/v1/certificates/${certificateId}`, ADMIN_TOKEN)).body;
    expect(book.owner).toBe(registry.certificate(certificateId)!.owner);
  }

  expect(await connectorOwner(system.api), "the connector stays where it moved").toBe(second);
  const history = await expectOwnershipNeverOverlaps(system.db, "connector");
  expect(history.find((row) => row.owner === first)?.end_reason).toBe("expired");
  const survivor = children.find((child) => processIdOf(child) === second)!;
  const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
  expect(metrics).toMatch(/certflow_leases_owned\{group="connector"\} 1/);
}, 300_000);

it("removes finished registry commands past retention, keeps unfinished ones and those of a pending trade, answers 410 for a removed one, and reconciles without a misalignment", async () => {
  // The registry offers certificate transactions, so reconciliation compares them with the book.
  registry = await startRegistryEmulator({ faults: { streamReads: true } });
  const iso = isolation({ CERTFLOW_REGISTRY_URL: registry.url, CERTFLOW_RETENTION_COMMANDS: "1s", CERTFLOW_RETENTION_INTERVAL_SECONDS: "1" });
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,dispatcher,certificates,connector" } });

  const finished: string[] = [];
  const certificates: string[] = [];
  for (let index = 0; index < 3; index++) {
    const certificate = await registerAnnual(system.api, ADMIN_TOKEN);
    certificates.push(certificate.certificateId);
    const transfer = await system.api.request("POST", `/v1/certificates/${certificate.certificateId}/transfers`, { token: ADMIN_TOKEN, body: { to: `buyer-${index}` }, headers: WAIT });
    expect(transfer.status, JSON.stringify(transfer.body)).toBe(201);
    finished.push(transfer.body.commandId as string);
  }
  // One certificate's command never ends at the registry, and another waits behind it.
  const stuck = (await registerAnnual(system.api, ADMIN_TOKEN)).certificateId;
  registry.setFaults({ certificates: { [stuck]: { stuckPending: true } } });
  const unfinished: string[] = [];
  for (const to of ["stuck-1", "stuck-2"]) {
    const response = await system.api.post(`/v1/certificates/${stuck}/transfers`, { to }, ADMIN_TOKEN);
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    unfinished.push(response.body.commandId as string);
  }

  // A trade whose second transfer never ends: its first, committed, is kept while the trade is pending.
  const traded = [(await registerAnnual(system.api, ADMIN_TOKEN)).certificateId, (await registerAnnual(system.api, ADMIN_TOKEN)).certificateId];
  registry.setFaults({ certificates: { [stuck]: { stuckPending: true }, [traded[1]!]: { stuckPending: true } } });
  const trade = await system.api.post("/v1/trades", { seller: "owner-a", buyer: "buyer-t", certificateIds: traded }, ADMIN_TOKEN);
  expect(trade.status, JSON.stringify(trade.body)).toBe(202);
  const sagaCommands = async () =>
    new Map((await system!.db.selectFrom("registry_commands").select(["certificate_id", "id", "state"]).where("saga_id", "=", trade.body.id).execute()).map((row) => [row.certificate_id, row]));
  await eventually(async () => expect((await sagaCommands()).get(traded[0]!)?.state).toBe("committed"), { timeoutMs: 30_000 });
  const keptForTrade = [...(await sagaCommands()).values()].map((row) => row.id);
  // The sentinel: a command finished after the trade's transfer, removed only once that one is past the period too.
  const later = await system.api.request("POST", `/v1/certificates/${certificates[0]}/transfers`, { token: ADMIN_TOKEN, body: { to: "later" }, headers: WAIT });
  expect(later.status, JSON.stringify(later.body)).toBe(201);

  await eventually(async () => {
    const rows = await system!.db.selectFrom("registry_commands").select(["id", "state", "saga_id"]).execute();
    expect(rows.filter((row) => (row.state === "committed" || row.state === "failed") && row.saga_id === null), "finished commands removed").toEqual([]);
    expect(rows.map((row) => row.id).sort()).toEqual([...unfinished, ...keptForTrade].sort());
  }, { timeoutMs: 30_000 });
  expect((await sagaCommands()).get(traded[0]!)?.state, "the pending trade's committed transfer is kept").toBe("committed");

  const removed = await system.api.get(`/v1/commands/${finished[0]}`, ADMIN_TOKEN);
  expect(removed.status).toBe(410);
  expect(removed.body.code).toBe("gone");
  expect(removed.body.detail).toMatch(/past retention/);
  expect((await system.api.get(`/v1/commands/${crypto.randomUUID()}`, ADMIN_TOKEN)).status, "an id that never was is only not found").toBe(404);
  expect((await system.api.get(`/v1/commands/${unfinished[1]}`, ADMIN_TOKEN)).body.state).toBe("queued");

  const report = await system.api.post("/v1/registry/reconcile", { compareStreams: true }, ADMIN_TOKEN);
  expect(report.status, JSON.stringify(report.body)).toBe(200);
  expect(report.body.compared).toBeGreaterThanOrEqual(certificates.length);
  expect(report.body.misalignments).toEqual([]);
  expect(await system.db.selectFrom("registry_misalignments").selectAll().execute()).toEqual([]);
}, 120_000);
