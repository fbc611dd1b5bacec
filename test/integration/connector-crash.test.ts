import { sql } from "kysely";
import { afterEach, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { receiptsPerCommand, startRegistryEmulator, type TestRegistryEmulator } from "../support/registry-emulator.js";
import { registerAnnual } from "../support/registry.js";
import { ADMIN_TOKEN, isolation, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
let connector: ServiceProcess | undefined;
let registry: TestRegistryEmulator | undefined;

afterEach(async () => {
  if (connector && connector.child.exitCode === null) {
    connector.child.kill("SIGKILL");
    await connector.exited;
  }
  await system?.destroy();
  await registry?.stop();
  system = connector = registry = undefined;
});

async function kill(process: ServiceProcess) {
  process.child.kill("SIGKILL");
  await process.exited;
}

it("a connector killed after acceptance, while sending, and after the registry committed reaches the same end state: each command sent once, applied once", async () => {
  registry = await startRegistryEmulator();
  const iso = isolation({ CERTFLOW_REGISTRY_URL: registry.url });
  // This process takes the commands and journals events; the connector runs alone and is killed.
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "producer,dispatcher,certificates" } });
  const connectorEnv = { ...iso.env, SERVICES: "connector" };
  connector = await startServiceProcess(connectorEnv);
  const certificates: Array<{ certificateId: string }> = [];
  for (let index = 0; index < 3; index++) certificates.push(await registerAnnual(system.api, ADMIN_TOKEN));
  const transfer = async (id: string, to: string) => {
    const response = await system!.api.post(`/v1/certificates/${id}/transfers`, { to }, ADMIN_TOKEN);
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    return response.body.commandId as string;
  };
  const state = async (id: string) => (await system!.api.get(`/v1/commands/${id}`, ADMIN_TOKEN)).body.state as string;
  const ids: string[] = [];

  // 1. Killed before it saw the commands: they wait, queued.
  await kill(connector);
  for (const certificate of certificates) ids.push(await transfer(certificate.certificateId, "after-acceptance"));
  expect(await state(ids[0]!)).toBe("queued");
  connector = await startServiceProcess(connectorEnv);
  await eventually(async () => expect(await Promise.all(ids.map(state))).toEqual(["committed", "committed", "committed"]), { timeoutMs: 30_000 });

  // 2. Killed while sending: the registry takes the request in slowly; the process dies mid-POST.
  registry.setFaults({ acceptLatencyMs: 1500 });
  const sending = await transfer(certificates[0]!.certificateId, "while-sending");
  ids.push(sending);
  // Killed once the request is at the registry and before its answer came back.
  await eventually(async () => {
    expect(await state(sending)).toBe("sending");
    expect(receiptsPerCommand(registry!).get(sending)).toBe(1);
  });
  await kill(connector);
  await eventually(() => expect(receiptsPerCommand(registry!).get(sending)).toBe(1));
  registry.setFaults({ acceptLatencyMs: 0 });

  // 3. Killed after the registry committed, before the book changed: the registry commits slowly, the kill comes first.
  connector = await startServiceProcess(connectorEnv);
  registry.setFaults({ commitLatencyMs: { min: 1500, max: 1500 } });
  const committedLate = await transfer(certificates[1]!.certificateId, "after-commit");
  ids.push(committedLate);
  await eventually(async () => expect(await state(committedLate)).toBe("sent"), { timeoutMs: 30_000 });
  await kill(connector);
  await eventually(() => expect(registry!.receipts({ commandId: committedLate }).map((receipt) => receipt.outcome)).toEqual(["committed"]));
  expect(registry.certificate(certificates[1]!.certificateId)?.owner).toBe("after-commit");
  expect((await system.api.get(`/v1/certificates/${certificates[1]!.certificateId}`, ADMIN_TOKEN)).body.owner).toBe("after-acceptance");

  connector = await startServiceProcess(connectorEnv);
  await eventually(async () => expect(await Promise.all(ids.map(state))).toEqual(ids.map(() => "committed")), { timeoutMs: 30_000 });
  const receipts = receiptsPerCommand(registry);
  for (const id of ids) expect(receipts.get(id), `receipts of ${id}`).toBe(1);
  for (const certificate of certificates) {
    const book = (await system.api.get(`/v1/certificates/${certificate.certificateId}`, ADMIN_TOKEN)).body;
    const truth = registry.certificate(certificate.certificateId)!;
    expect({ owner: book.owner, version: book.version }).toEqual({ owner: truth.owner, version: truth.version });
  }
  // No duplicate event: one certificate.transferred per committed transfer in the journal.
  await eventually(async () => {
    const rows = await sql<{ n: number; distinct_ids: number }>`
      SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct_ids FROM notifications WHERE type = 'certificate.transferred' AND subject = ANY(${certificates.map((c) => c.certificateId)}::text[])
    `.execute(system!.db);
    expect(rows.rows[0]).toEqual({ n: ids.length, distinct_ids: ids.length });
  });
}, 180_000);
