import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { unique } from "../support/fixtures.js";
import { getCertificate, registerAnnual, WAIT } from "../support/registry.js";
import { encoded, postTransactions, receiptsPerCommand, startRegistryEmulator, type TestRegistryEmulator } from "../support/registry-emulator.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem;
let registry: TestRegistryEmulator;

// Stream reads on, so reconciliation can compare a certificate's transactions with the book.
const FAULTS = { streamReads: true };

beforeAll(async () => {
  registry = await startRegistryEmulator({ faults: FAULTS });
  system = await startTestSystem({
    env: { CERTFLOW_REGISTRY_URL: registry.url, CERTFLOW_REGISTRY_DEADLINE_SECONDS: "2", CERTFLOW_REGISTRY_UNKNOWN_GRACE_MS: "200" },
  });
});
afterAll(async () => {
  await system?.destroy();
  await registry?.stop();
});
afterEach(() => {
  registry.restoreFaults();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) => system.api.request("POST", path, { token: ADMIN_TOKEN, body, headers });
const command = async (id: string) => (await system.api.get(`/v1/commands/${id}`, ADMIN_TOKEN)).body;
const terminal = (state: string) => state === "committed" || state === "failed";

/** The invariants every test checks: at most one receipt per command, and no two in flight per certificate. */
async function checkInvariants(commandIds: readonly string[]) {
  const receipts = receiptsPerCommand(registry);
  for (const id of commandIds) expect(receipts.get(id) ?? 0, `receipts of ${id}`).toBeLessThanOrEqual(1);
  const inFlight = await sql<{ certificate_id: string; n: number }>`
    SELECT certificate_id, count(*)::int AS n FROM registry_commands WHERE state IN ('sending', 'sent', 'indeterminate') GROUP BY certificate_id HAVING count(*) > 1
  `.execute(system.db);
  expect(inFlight.rows).toEqual([]);
}

/** No book change without the registry's commit: the book's owner, status and version equal the registry's. */
function booksAgree(certificate: { certificateId: string; owner: string; status: string; version: number }) {
  const truth = registry.certificate(certificate.certificateId);
  expect(truth, `registry has ${certificate.certificateId}`).toBeDefined();
  // The registry calls a sliced source `sliced`; the book, like reconciliation, calls it cancelled.
  const status = truth!.status === "sliced" ? "cancelled" : truth!.status;
  expect({ owner: certificate.owner, status: certificate.status, version: certificate.version }).toEqual({ owner: truth!.owner, status, version: truth!.version });
}

async function waitTerminal(ids: readonly string[]) {
  return eventually(
    async () => {
      const commands = await Promise.all(ids.map(command));
      expect(commands.filter((found) => !terminal(found.state)).map((found) => `${found.id}: ${found.state}`)).toEqual([]);
      return commands;
    },
    { timeoutMs: 60_000 },
  );
}

describe("the registry connector", () => {
  it("sends each command once and changes the book only after the commit, with the whole chain traceable (no faults)", async () => {
    const certificate = await registerAnnual(system.api, ADMIN_TOKEN, { quantityWh: 1_000 });
    const id = certificate.certificateId;
    const sliced = await post(`/v1/certificates/${id}/slices`, { parts: [{ quantityWh: 999 }, { quantityWh: 1, owner: "small" }] }, WAIT);
    expect(sliced.status, JSON.stringify(sliced.body)).toBe(201);
    const part = await getCertificate(system.api, ADMIN_TOKEN, `${id}-s1`);
    expect(part).toMatchObject({ quantityWh: 999, owner: certificate.owner, status: "active", version: 1 });
    expect(await getCertificate(system.api, ADMIN_TOKEN, `${id}-s2`)).toMatchObject({ quantityWh: 1, owner: "small" });
    expect(await getCertificate(system.api, ADMIN_TOKEN, id)).toMatchObject({ status: "cancelled", version: 2 });

    const transfer = await post(`/v1/certificates/${id}-s1/transfers`, { to: "buyer-1" }, WAIT);
    expect(transfer.status).toBe(201);
    const claim = await post(`/v1/certificates/${id}-s2/claims`, { beneficiary: "factory" }, WAIT);
    expect(claim.status).toBe(201);
    const withdrawn = await post(`/v1/certificates/${id}-s1/withdrawals`, { reason: "error" }, WAIT);
    expect(withdrawn.status).toBe(201);
    for (const certificateId of [id, `${id}-s1`, `${id}-s2`]) booksAgree(await getCertificate(system.api, ADMIN_TOKEN, certificateId));

    // The request's trace: accepted -> sent -> committed -> certificate.transferred.
    const trace = await eventually(async () => {
      const response = await system.api.get(`/v1/notifications/${transfer.body.commandId}/trace`, ADMIN_TOKEN);
      expect(response.status).toBe(200);
      const types = JSON.stringify(response.body);
      for (const type of ["registry.command.sent", "registry.transaction.committed", "certificate.transferred"]) expect(types).toContain(type);
      return response.body;
    });
    expect(JSON.stringify(trace)).toContain("registry.command.accepted");
    const listed = await system.api.get(`/v1/commands?certificateId=${id}-s1`, ADMIN_TOKEN);
    expect(listed.body.data.map((found: { type: string; state: string }) => [found.type, found.state])).toEqual([
      ["transfer", "committed"],
      ["withdraw", "committed"],
    ]);
    // A late poll may first see the commit as `finalized` (status only moves forward).
    expect(transfer.body.statuses.map((entry: { status: string }) => entry.status)).toContainEqual(expect.stringMatching(/^(committed|finalized)$/));
    await checkInvariants([sliced.body.commandId, transfer.body.commandId, claim.body.commandId, withdrawn.body.commandId]);
  });

  it("accepts 50 commands while the registry refuses connections, sends none, and commits them all once it is back", async () => {
    const certificates = await Promise.all(Array.from({ length: 5 }, () => registerAnnual(system.api, ADMIN_TOKEN)));
    registry.setFaults({ unavailable: "refuse" });
    const before = registry.receipts().length;
    const ids: string[] = [];
    for (let round = 0; round < 10; round++) {
      for (const certificate of certificates) {
        const accepted = await post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: `owner-${round}` });
        expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
        ids.push(accepted.body.commandId);
      }
    }
    await eventually(async () => expect((await system.api.get("/metrics")).body).toMatch(/^certflow_registry_reachable 0$/m));
    expect((await system.api.get("/readyz")).status).toBe(200);
    expect(registry.receipts().length).toBe(before);
    // Between refused attempts the command waits as queued (each attempt shows it as sending for a moment).
    await eventually(async () => expect((await command(ids[0]!)).state).toBe("queued"));

    registry.setFaults({ unavailable: "off" });
    const done = await waitTerminal(ids);
    expect(done.every((found) => found.state === "committed")).toBe(true);
    expect(registry.receipts().length - before).toBe(50);
    for (const certificate of certificates) {
      const book = await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId);
      expect(book).toMatchObject({ owner: "owner-9", version: 11 });
      booksAgree(book);
    }
    await checkInvariants(ids);
  });

  it("resolves by status when every response is lost after the registry applied it, and a commit slower than the client's patience fails nothing", async () => {
    const certificates = await Promise.all(Array.from({ length: 4 }, () => registerAnnual(system.api, ADMIN_TOKEN)));
    registry.setFaults({ dropResponseRate: 1, commitLatencyMs: { min: 50, max: 150 } });
    const ids = [];
    for (const certificate of certificates) ids.push((await post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: "buyer-x" })).body.commandId);
    const done = await waitTerminal(ids);
    expect(done.map((found) => found.state)).toEqual(["committed", "committed", "committed", "committed"]);
    expect(done[0].sendOutcome).toMatch(/^ambiguous/);
    await checkInvariants(ids);
    for (const certificate of certificates) booksAgree(await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId));
  });

  it("under dedupe none a naive resend-on-timeout client applies twice; the connector never does", async () => {
    const naive = await registerAnnual(system.api, ADMIN_TOKEN);
    registry.setFaults({ dedupe: "none", dropResponseRate: 1 });
    // The control: a client that resends the same bytes after a lost response.
    const transaction = encoded("transfer", naive.certificateId, { to: "someone" }, { commandId: unique("naive") });
    expect((await postTransactions(registry.url, [transaction])).outcome).toBe("reset");
    expect((await postTransactions(registry.url, [transaction])).outcome).toBe("reset");
    await eventually(() => expect(registry.certificate(naive.certificateId)?.version).toBe(3));

    const certificate = await registerAnnual(system.api, ADMIN_TOKEN);
    const accepted = await post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: "buyer-y" });
    const [done] = await waitTerminal([accepted.body.commandId]);
    expect(done.state).toBe("committed");
    expect(registry.certificate(certificate.certificateId)?.version).toBe(2);
    await checkInvariants([accepted.body.commandId]);
  });

  it("keeps 20 concurrent transfers of one certificate one at a time, each committed, in order", async () => {
    const certificate = await registerAnnual(system.api, ADMIN_TOKEN);
    registry.setFaults({ commitLatencyMs: { min: 5, max: 20 } });
    const responses = await Promise.all(Array.from({ length: 20 }, (_, index) => post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: `holder-${index}` })));
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(202));
    const ids = responses.map((response) => response.body.commandId as string);
    const busy = await post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: "impatient" }, { prefer: "no-queue" });
    expect(busy.status).toBe(409);
    const done = await waitTerminal(ids);
    expect(done.every((found) => found.state === "committed")).toBe(true);
    const receipts = registry.receipts().filter((receipt) => receipt.certificateId === certificate.certificateId && receipt.type === "transfer");
    expect(receipts.map((receipt) => receipt.outcome)).toEqual(Array(20).fill("committed"));
    const book = await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId);
    expect(book.version).toBe(21);
    booksAgree(book);
    await checkInvariants(ids);
  });

  it("fails a queued command that an out-of-band change made invalid, leaves the book, releases the lock; reconciliation reports the difference", async () => {
    const certificate = await registerAnnual(system.api, ADMIN_TOKEN);
    registry.setFaults({ unavailable: "503" });
    const queued = await post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: "buyer-z" });
    registry.changeOutOfBand({ certificateId: certificate.certificateId, owner: "somebody-else" });
    registry.setFaults({ unavailable: "off" });
    const [done] = await waitTerminal([queued.body.commandId]);
    expect(done.state).toBe("failed");
    expect(done.error).toMatch(/version mismatch/);
    expect(await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId)).toMatchObject({ owner: certificate.owner, version: 1 });

    const report = await post("/v1/registry/reconcile", { certificateIds: [certificate.certificateId] });
    expect(report.status).toBe(200);
    expect(report.body.misalignments).toEqual([
      expect.objectContaining({ certificateId: certificate.certificateId, local: { owner: certificate.owner, status: "active", version: 1 }, registry: { owner: "somebody-else", status: "active", version: 2 } }),
    ]);
    expect(await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId)).toMatchObject({ owner: certificate.owner });
    // Reported once: the next pass finds nothing new.
    expect((await post("/v1/registry/reconcile", { certificateIds: [certificate.certificateId] })).body.misalignments).toEqual([]);
    registry.setFaults({ streamReads: false });
    expect((await post("/v1/registry/reconcile", { certificateIds: [certificate.certificateId], compareStreams: true })).status).toBe(501);
    await checkInvariants([queued.body.commandId]);
  });

  it("runs a trade of 5 certificates as a saga: the 4th fails at the registry, the others go back, the trade fails, both books agree", async () => {
    const seller = unique("seller");
    const certificates = [];
    for (let index = 0; index < 5; index++) certificates.push(await registerAnnual(system.api, ADMIN_TOKEN, { owner: seller }));
    const ids = certificates.map((certificate) => certificate.certificateId).sort();
    registry.setFaults({ certificates: { [ids[3]!]: { failWith: `certificate ${ids[3]} is blocked at the registry` } } });
    const trade = await post("/v1/trades", { seller, buyer: "buyer-t", certificateIds: ids }, WAIT);
    expect(trade.status, JSON.stringify(trade.body)).toBe(422);
    const view = await eventually(async () => {
      const response = await system.api.get(`/v1/trades/${await latestTrade(seller)}`, ADMIN_TOKEN);
      expect(response.body.state).toBe("failed");
      return response.body;
    });
    expect(view.commands.filter((step: { role: string }) => step.role === "compensation")).toHaveLength(4);
    expect(view.commands.every((step: { state: string }) => terminal(step.state))).toBe(true);
    for (const id of ids) {
      const book = await getCertificate(system.api, ADMIN_TOKEN, id);
      expect(book.owner).toBe(seller);
      booksAgree(book);
    }
    await checkInvariants(view.commands.map((step: { commandId: string }) => step.commandId));
  });

  it("parks a command stuck pending past its deadline as indeterminate with the lock held, and applies it once when reconciliation finds it committed", async () => {
    const certificate = await registerAnnual(system.api, ADMIN_TOKEN);
    registry.setFaults({ stuckPending: true });
    const accepted = await post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: "patient" });
    await eventually(async () => expect((await command(accepted.body.commandId)).state).toBe("indeterminate"), { timeoutMs: 30_000 });
    expect((await system.api.get("/v1/commands?state=indeterminate", ADMIN_TOKEN)).body.data.map((found: { id: string }) => found.id)).toContain(accepted.body.commandId);
    expect((await post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: "other" }, { prefer: "no-queue" })).status).toBe(409);
    expect(await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId)).toMatchObject({ owner: certificate.owner, version: 1 });

    registry.setFaults({ stuckPending: false });
    await eventually(() => expect(registry.certificate(certificate.certificateId)?.version).toBe(2));
    const report = await post("/v1/registry/reconcile", {});
    expect(report.body.resolved).toBeGreaterThanOrEqual(1);
    expect(await command(accepted.body.commandId)).toMatchObject({ state: "committed" });
    const book = await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId);
    expect(book).toMatchObject({ owner: "patient", version: 2 });
    booksAgree(book);
    await checkInvariants([accepted.body.commandId]);
  });

  it("turns a failed status the registry forgot into indeterminate, and an operator resolves it with evidence", async () => {
    const certificate = await registerAnnual(system.api, ADMIN_TOKEN);
    registry.setFaults({ certificates: { [certificate.certificateId]: { failWith: "blocked at the registry", failedStatusTtlMs: 1, commitLatencyMs: { min: 100, max: 100 } } } });
    const accepted = await post(`/v1/certificates/${certificate.certificateId}/transfers`, { to: "nobody" });
    const parked = await eventually(async () => {
      const found = await command(accepted.body.commandId);
      expect(found.state).toBe("indeterminate");
      return found;
    });
    expect(parked.error).toMatch(/forgotten|does not know/);
    // Stream reads show no trace of it, which is no proof under dedupe none: it stays for the operator.
    await post("/v1/registry/reconcile", { certificateIds: [] });
    expect((await command(accepted.body.commandId)).state).toBe("indeterminate");
    expect((await system.api.request("POST", `/v1/commands/${accepted.body.commandId}/resolve`, { token: ADMIN_TOKEN, body: { outcome: "failed" } })).status).toBe(400);
    const resolved = await post(`/v1/commands/${accepted.body.commandId}/resolve`, { outcome: "failed", evidence: "registry operator: transaction rejected" });
    expect(resolved.status, JSON.stringify(resolved.body)).toBe(200);
    expect(resolved.body).toMatchObject({ state: "failed" });
    expect((await post(`/v1/commands/${accepted.body.commandId}/resolve`, { outcome: "failed", evidence: "again" })).status).toBe(409);
    expect(await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId)).toMatchObject({ owner: certificate.owner, version: 1 });
    await eventually(async () => {
      const trace = await system.api.get(`/v1/notifications/${accepted.body.commandId}/trace`, ADMIN_TOKEN);
      expect(JSON.stringify(trace.body)).toContain("registry.command.resolved");
    });
    await checkInvariants([accepted.body.commandId]);
  });

  it("delivers registry events to a registry.* subscription and lists their types in the OpenAPI document", async () => {
    const openapi = JSON.stringify((await system.api.get("/openapi.json")).body);
    for (const type of ["registry.command.accepted", "registry.transaction.committed", "registry.misalignment.detected"]) expect(openapi).toContain(type);
    const created = await post("/v1/subscriptions", { name: unique("registry-events"), filters: [{ types: ["registry.*"] }] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const certificate = await registerAnnual(system.api, ADMIN_TOKEN);
    const name = created.body.subscription.name;
    const types: string[] = [];
    await eventually(async () => {
      const pulled = await system.api.get(`/v1/subscriptions/${name}/messages?max=100&wait=1`, created.body.token);
      const messages = pulled.body.messages as Array<{ ackId: string; notification: { subject: string; type: string } }>;
      if (messages.length > 0) await system.api.request("POST", `/v1/subscriptions/${name}/acks`, { token: created.body.token, body: { ackIds: messages.map((message) => message.ackId) } });
      types.push(...messages.filter((message) => message.notification.subject === certificate.certificateId).map((message) => message.notification.type));
      expect(types).toEqual(expect.arrayContaining(["registry.command.accepted", "registry.command.sent", "registry.transaction.committed"]));
    });
    expect(types.every((type) => type.startsWith("registry."))).toBe(true);
  });

  it("survives a seeded soak of 500 commands with random latency, lost responses and outages: every command ends, books agree", async () => {
    const seed = Number(process.env.SOAK_SEED ?? Date.now() % 100_000);
    registry.setFaults({ seed });
    try {
      const certificates = await Promise.all(Array.from({ length: 20 }, () => registerAnnual(system.api, ADMIN_TOKEN)));
      // Lost requests (never received) would park commands as indeterminate for an operator, by design; here every fault is one the connector resolves alone.
      // So outages answer 503 Registry-Received: false: a registry refusing connections also resets a request already on an
      // open keep-alive connection, which the client cannot tell from a lost response (the 50-command test covers refusal).
      registry.setFaults({ commitLatencyMs: { min: 0, max: 20 }, dropResponseRate: 0.2 });
      const ids: string[] = [];
      let random = seed;
      const next = () => (random = (random * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (let index = 0; index < 500; index++) {
        if (index % 100 === 50) registry.setFaults({ unavailable: "503" });
        if (index % 100 === 70) registry.setFaults({ unavailable: "off" });
        const target = certificates[Math.floor(next() * certificates.length)]!;
        const accepted = await post(`/v1/certificates/${target.certificateId}/transfers`, { to: `soak-${index}` });
        expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
        ids.push(accepted.body.commandId);
      }
      registry.setFaults({ unavailable: "off" });
      const done = await waitTerminal(ids);
      expect(done.filter((found) => found.state !== "committed").map((found) => `${found.id} ${found.state} ${found.error}`)).toEqual([]);
      for (const certificate of certificates) booksAgree(await getCertificate(system.api, ADMIN_TOKEN, certificate.certificateId));
      await checkInvariants(ids);
    } catch (error) {
      console.error(`soak failed with seed ${seed} (SOAK_SEED=${seed} repeats it)`);
      throw error;
    }
  }, 240_000);
});

async function latestTrade(seller: string): Promise<string> {
  const response = await system.api.get(`/v1/trades?owner=${seller}`, ADMIN_TOKEN);
  return response.body.data.at(-1).id;
}

