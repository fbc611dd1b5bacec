import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REGISTRY_STATUSES, type RegistryStatus } from "../../src/core/registry/wire.js";
import { eventually } from "../support/eventually.js";
import {
  EMULATOR_ADMIN_TOKEN,
  encoded,
  getStatus,
  postTransactions,
  startRegistryEmulator,
  type TestRegistryEmulator,
} from "../support/registry-emulator.js";
import { ADMIN_TOKEN, startTestSystem } from "../support/system.js";

let registry: TestRegistryEmulator;
let counter = 0;
const certificateId = (label: string) => `${label}-${process.pid}-${counter++}`;

beforeEach(async () => {
  registry = await startRegistryEmulator();
});
afterEach(async () => {
  await registry.stop();
});

const issueTx = (id: string, quantityWh = 1000, owner = "alice", header = {}) =>
  encoded("issue", id, { certificateId: id, quantityWh, owner, kind: "annual", version: 1 }, header);

async function accepted(transactions: Array<{ bytes: string }>, url = registry.url): Promise<void> {
  const result = await postTransactions(url, transactions);
  expect(result.outcome === "answered" && result.status, JSON.stringify(result)).toBe(202);
}

async function settled(txId: string): Promise<RegistryStatus> {
  return eventually(() => {
    const { status } = registry.status(txId);
    expect(["committed", "finalized", "failed"]).toContain(status);
    return status;
  });
}

async function issued(id: string, quantityWh = 1000, owner = "alice"): Promise<void> {
  const tx = issueTx(id, quantityWh, owner);
  await accepted([tx]);
  expect(await settled(tx.txId)).not.toBe("failed");
}

async function control(method: string, path: string, body?: unknown, token = EMULATOR_ADMIN_TOKEN, url = registry.url) {
  const response = await fetch(new URL(path, url), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

describe("registry emulator wire", () => {
  it("answers 202 {} and moves a transaction's status forward only: pending, committed, finalized", async () => {
    const id = certificateId("status");
    registry.setFaults({ certificates: { [id]: { commitLatencyMs: { min: 100, max: 100 } } } });
    const tx = issueTx(id);
    expect(await getStatus(registry.url, tx.txId)).toEqual({ status: "unknown" });
    const result = await postTransactions(registry.url, [tx]);
    expect(result).toMatchObject({ outcome: "answered", status: 202, body: "{}" });
    const seen: RegistryStatus[] = [];
    await eventually(async () => {
      const { status } = await getStatus(registry.url, tx.txId);
      if (seen.at(-1) !== status) seen.push(status);
      expect(status).toBe("finalized");
    });
    const ranks = seen.map((status) => REGISTRY_STATUSES.indexOf(status));
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    expect(seen).not.toContain("failed");
    expect(registry.certificate(id)).toMatchObject({ owner: "alice", quantityWh: 1000, status: "active", version: 1 });
  });

  it("takes a batch and reports nothing per item; each transaction is queued on its own certificate", async () => {
    const ids = [certificateId("batch"), certificateId("batch"), certificateId("batch")];
    const transactions = ids.map((id) => issueTx(id));
    await accepted(transactions);
    for (const tx of transactions) expect(await settled(tx.txId)).not.toBe("failed");
    expect(registry.receipts().map((receipt) => receipt.certificateId)).toEqual(ids);
  });

  it("refuses a request whose bytes are not a valid transaction, naming the item, and receives none of it", async () => {
    const good = issueTx(certificateId("bad"));
    const badPayload = encoded("transfer", "X", { recipient: "bob" });
    const result = await postTransactions(registry.url, [good, badPayload]);
    expect(result.outcome).toBe("answered");
    if (result.outcome !== "answered") return;
    expect(result.status).toBe(400);
    expect(JSON.parse(result.body).detail).toMatch(/^transactions\.1\.bytes: invalid transfer payload/);
    expect(registry.receipts()).toEqual([]);
  });

  it("requires the registry token on the wire when one is set, and the admin token on the control API", async () => {
    const guarded = await startRegistryEmulator({ token: "wire-token-123" });
    try {
      const tx = issueTx(certificateId("auth"));
      const missing = await postTransactions(guarded.url, [tx]);
      const wrong = await postTransactions(guarded.url, [tx], { token: "not-it" });
      expect(missing).toMatchObject({ outcome: "answered", status: 401 });
      expect(wrong).toMatchObject({ outcome: "answered", status: 401 });
      expect(guarded.receipts()).toEqual([]);
      expect(await postTransactions(guarded.url, [tx], { token: "wire-token-123" })).toMatchObject({ status: 202 });
      expect(await getStatus(guarded.url, tx.txId, "wire-token-123")).toBeDefined();
      expect((await control("GET", "/_emulator/faults", undefined, "wire-token-123", guarded.url)).status).toBe(401);
    } finally {
      await guarded.stop();
    }
  });

  it("answers 501 for stream reads unless streamReads is on; then the certificate's committed transactions in order", async () => {
    const id = certificateId("stream");
    await issued(id);
    const off = await control("GET", `/v1/certificates/${id}/transactions`);
    expect(off.status).toBe(501);
    expect(off.body.code).toBe("not_implemented");

    registry.setFaults({ streamReads: true });
    const transfer = encoded("transfer", id, { to: "bob" });
    await accepted([transfer]);
    await settled(transfer.txId);
    const failed = encoded("cancel", id, {}, { expectedVersion: 1 });
    await accepted([failed]);
    expect(await settled(failed.txId)).toBe("failed");
    const on = await control("GET", `/v1/certificates/${id}/transactions`);
    expect(on.status).toBe(200);
    expect(on.body.transactions.map((entry: { index: number }) => entry.index)).toEqual([0, 1]);
    expect(on.body.transactions[1].txId).toBe(transfer.txId);
  });
});

describe("registry emulator verification", () => {
  it("fails a second issue of a certificate: already exists", async () => {
    const id = certificateId("twice");
    await issued(id);
    const again = issueTx(id);
    await accepted([again]);
    expect(await settled(again.txId)).toBe("failed");
    expect(registry.status(again.txId).message).toBe(`certificate ${id} already exists`);
  });

  it.each([
    ["cancel", {}],
    ["transfer", { to: "bob" }],
    ["claim", { beneficiary: "b" }],
    ["withdraw", { reason: "r" }],
    ["slice", { parts: [{ certificateId: "p", quantityWh: 1, owner: "a" }] }],
  ] as const)("fails %s of a certificate that does not exist", async (type, payload) => {
    const id = certificateId("missing");
    const tx = encoded(type, id, payload);
    await accepted([tx]);
    expect(await settled(tx.txId)).toBe("failed");
    expect(registry.status(tx.txId).message).toBe(`certificate ${id} does not exist`);
  });

  it("slices into parts that sum exactly to the quantity: the source is used up, the parts exist", async () => {
    const id = certificateId("slice");
    await issued(id, 1000);
    const uneven = encoded("slice", id, { parts: [{ certificateId: `${id}-s1`, quantityWh: 600, owner: "alice" }, { certificateId: `${id}-s2`, quantityWh: 399, owner: "bob" }] });
    await accepted([uneven]);
    expect(await settled(uneven.txId)).toBe("failed");
    expect(registry.status(uneven.txId).message).toMatch(/sum to 999 Wh.*holds 1000 Wh/);

    const exact = encoded("slice", id, { parts: [{ certificateId: `${id}-s1`, quantityWh: 600, owner: "alice" }, { certificateId: `${id}-s2`, quantityWh: 400, owner: "bob" }] });
    await accepted([exact]);
    expect(await settled(exact.txId)).not.toBe("failed");
    expect(registry.certificate(id)).toMatchObject({ status: "sliced", version: 2 });
    expect(registry.certificate(`${id}-s1`)).toMatchObject({ owner: "alice", quantityWh: 600, status: "active", slicedFrom: id });
    expect(registry.certificate(`${id}-s2`)).toMatchObject({ owner: "bob", quantityWh: 400, status: "active" });
    expect(registry.emulator.stream(`${id}-s2`).map((entry) => entry.txId)).toEqual([exact.txId]);
  });

  it("transfers change the owner; claim and withdraw change the status; a command on a claimed certificate fails", async () => {
    const [a, b] = [certificateId("life"), certificateId("life")];
    await issued(a);
    await issued(b);
    const transfer = encoded("transfer", a, { to: "bob" });
    const claim = encoded("claim", a, { beneficiary: "bob's plant" });
    const withdraw = encoded("withdraw", b, { reason: "meter error" });
    await accepted([transfer, claim, withdraw]);
    for (const tx of [transfer, claim, withdraw]) expect(await settled(tx.txId)).not.toBe("failed");
    expect(registry.certificate(a)).toMatchObject({ owner: "bob", status: "claimed", beneficiary: "bob's plant", version: 3 });
    expect(registry.certificate(b)).toMatchObject({ status: "withdrawn", withdrawReason: "meter error", version: 2 });

    const late = encoded("transfer", a, { to: "carol" });
    await accepted([late]);
    expect(await settled(late.txId)).toBe("failed");
    expect(registry.status(late.txId).message).toBe(`certificate ${a} is claimed, not active`);
  });

  it("fails a command whose expectedVersion is stale: version mismatch", async () => {
    const id = certificateId("version");
    await issued(id);
    const current = encoded("transfer", id, { to: "bob" }, { expectedVersion: 1 });
    await accepted([current]);
    expect(await settled(current.txId)).not.toBe("failed");
    const stale = encoded("transfer", id, { to: "carol" }, { expectedVersion: 1 });
    await accepted([stale]);
    expect(await settled(stale.txId)).toBe("failed");
    expect(registry.status(stale.txId).message).toBe("version mismatch: expected 1, the registry has 2");
    expect(registry.certificate(id)).toMatchObject({ owner: "bob", version: 2 });
  });

  it("processes two concurrent commands on one certificate serially: the first wins, the second fails", async () => {
    const id = certificateId("race");
    await issued(id);
    const parts = (suffix: string) => ({ parts: [{ certificateId: `${id}-${suffix}`, quantityWh: 1000, owner: "bob" }] });
    const first = encoded("slice", id, parts("x"));
    const second = encoded("slice", id, parts("y"));
    await Promise.all([accepted([first]), accepted([second])]);
    const outcomes = [await settled(first.txId), await settled(second.txId)];
    expect(outcomes.filter((status) => status === "failed")).toHaveLength(1);
    const loser = outcomes[0] === "failed" ? first : second;
    expect(registry.status(loser.txId).message).toBe(`certificate ${id} is sliced, not active`);
    expect(registry.receipts({ certificateId: id }).map((receipt) => receipt.outcome).sort()).toEqual(["committed", "committed", "failed"]);

    // With expectedVersion the race is decided by the version: again one wins.
    const other = certificateId("race-versioned");
    await issued(other);
    const claim = encoded("claim", other, { beneficiary: "b" }, { expectedVersion: 1 });
    const withdraw = encoded("withdraw", other, { reason: "r" }, { expectedVersion: 1 });
    await Promise.all([accepted([claim]), accepted([withdraw])]);
    const statuses = [await settled(claim.txId), await settled(withdraw.txId)];
    expect(statuses.filter((status) => status === "failed")).toHaveLength(1);
  });
});

/** A client that resends the same bytes whenever it got no answer: what certflow must not be. */
async function naiveSend(url: string, tx: { bytes: string }, attempts: number, timeoutMs = 2000): Promise<void> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const result = await postTransactions(url, [tx], { timeoutMs });
    if (result.outcome === "answered" && result.status === 202) return;
  }
}

describe("registry emulator faults", () => {
  it("with dedupe none, a naive resend after a dropped response applies the transfer twice (the emulator is faithful)", async () => {
    const id = certificateId("naive");
    await issued(id);
    registry.setFaults({ dropResponseRate: 1 });
    const transfer = encoded("transfer", id, { to: "bob" });
    await naiveSend(registry.url, transfer, 2);
    await eventually(() => expect(registry.receipts({ commandId: transfer.commandId }).map((r) => r.outcome)).toEqual(["committed", "committed"]));
    expect(registry.certificate(id)).toMatchObject({ owner: "bob", version: 3 });
    expect(registry.emulator.stream(id).filter((entry) => entry.txId === transfer.txId)).toHaveLength(2);
  });

  it("with dedupe none, a naive resend after its own timeout (the answer comes later than it waits) applies twice", async () => {
    const id = certificateId("naive-timeout");
    await issued(id);
    registry.setFaults({ acceptLatencyMs: 300 });
    const transfer = encoded("transfer", id, { to: "bob" });
    await naiveSend(registry.url, transfer, 2, 50);
    await eventually(() => expect(registry.receipts({ commandId: transfer.commandId }).map((r) => r.outcome)).toEqual(["committed", "committed"]));
    expect(registry.certificate(id)).toMatchObject({ owner: "bob", version: 3 });
  });

  it("with dedupe txId, the same naive resend is ignored as a duplicate and applies once", async () => {
    const id = certificateId("dedupe");
    await issued(id);
    registry.setFaults({ dropResponseRate: 1, dedupe: "txId" });
    const transfer = encoded("transfer", id, { to: "bob" });
    await naiveSend(registry.url, transfer, 2);
    await eventually(() => expect(registry.receipts({ commandId: transfer.commandId }).map((r) => r.outcome)).toEqual(["committed", "duplicate"]));
    expect(registry.certificate(id)).toMatchObject({ owner: "bob", version: 2 });
    expect(registry.emulator.stream(id).filter((entry) => entry.txId === transfer.txId)).toHaveLength(1);
  });

  it("dropResponseRate: the transaction is received and applied, the client sees a reset", async () => {
    const id = certificateId("drop-response");
    registry.setFaults({ dropResponseRate: 1 });
    const tx = issueTx(id);
    expect(await postTransactions(registry.url, [tx])).toEqual({ outcome: "reset" });
    expect(registry.receipts({ txId: tx.txId })).toHaveLength(1);
    expect(await settled(tx.txId)).not.toBe("failed");
  });

  it("dropRequestRate: the connection is reset before receipt; nothing is received", async () => {
    const id = certificateId("drop-request");
    registry.setFaults({ dropRequestRate: 1 });
    const tx = issueTx(id);
    expect(await postTransactions(registry.url, [tx])).toEqual({ outcome: "reset" });
    registry.setFaults({ dropRequestRate: 0 });
    const sentinel = issueTx(certificateId("sentinel"));
    await accepted([sentinel]);
    await settled(sentinel.txId);
    expect(registry.receipts({ txId: tx.txId })).toEqual([]);
    expect(await getStatus(registry.url, tx.txId)).toEqual({ status: "unknown" });
  });

  it("unavailable 503: every wire request answers 503 with Registry-Received: false, before the body is read", async () => {
    registry.setFaults({ unavailable: "503" });
    const tx = issueTx(certificateId("down"));
    const result = await postTransactions(registry.url, [tx]);
    expect(result.outcome === "answered" && [result.status, result.headers["registry-received"]]).toEqual([503, "false"]);
    expect((await control("GET", `/v1/transactions/${tx.txId}/status`)).status).toBe(503);
    expect(registry.receipts()).toEqual([]);
    registry.setFaults({ unavailable: "off" });
    await accepted([tx]);
    expect(registry.receipts()).toHaveLength(1);
  });

  it("unavailable refuse: connections are refused (ECONNREFUSED); the control port still answers; clearing it reopens the port", async () => {
    const tx = issueTx(certificateId("refuse"));
    const switched = await control("PUT", "/_emulator/faults", { unavailable: "refuse" });
    expect(switched.body.unavailable).toBe("refuse");
    expect(await postTransactions(registry.url, [tx])).toEqual({ outcome: "refused" });
    const faults = await control("GET", "/_emulator/faults", undefined, EMULATOR_ADMIN_TOKEN, registry.controlUrl);
    expect(faults.body.unavailable).toBe("refuse");
    expect(registry.receipts()).toEqual([]);

    await control("PUT", "/_emulator/faults", { unavailable: "off" }, EMULATOR_ADMIN_TOKEN, registry.controlUrl);
    await eventually(async () => expect(await postTransactions(registry.url, [tx])).toMatchObject({ outcome: "answered", status: 202 }));
    expect(registry.receipts({ txId: tx.txId })).toHaveLength(1);
  });

  it("unavailable refuse: a pooled keep-alive connection does not carry a request into the registry", async () => {
    const first = issueTx(certificateId("pooled"));
    const post = (tx: { bytes: string }) =>
      fetch(new URL("/v1/transactions", registry.url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ transactions: [{ bytes: tx.bytes }] }),
      });
    expect((await post(first)).status).toBe(202);
    registry.setFaults({ unavailable: "refuse" });
    const second = issueTx(certificateId("pooled"));
    await expect(post(second)).rejects.toThrow();
    expect(registry.receipts({ txId: second.txId })).toEqual([]);
    registry.setFaults({ unavailable: "off" });
    await eventually(async () => expect((await post(second)).status).toBe(202));
  });

  it("delayRequestMs: the request is taken in after the client gave up, then applied", async () => {
    const id = certificateId("delay");
    registry.setFaults({ delayRequestMs: 300 });
    const tx = issueTx(id);
    expect(await postTransactions(registry.url, [tx], { timeoutMs: 50 })).toEqual({ outcome: "timeout" });
    expect(registry.status(tx.txId)).toEqual({ status: "unknown" });
    await eventually(() => expect(registry.receipts({ txId: tx.txId })).toHaveLength(1));
    expect(await settled(tx.txId)).not.toBe("failed");
  });

  it("acceptLatencyMs: the transaction is received at once and answered late", async () => {
    const id = certificateId("accept");
    registry.setFaults({ acceptLatencyMs: 300 });
    const tx = issueTx(id);
    expect(await postTransactions(registry.url, [tx], { timeoutMs: 50 })).toEqual({ outcome: "timeout" });
    expect(registry.receipts({ txId: tx.txId })).toHaveLength(1);
    expect(await settled(tx.txId)).not.toBe("failed");
  });

  it("stuckPending: a certificate's transactions stay pending until the knob is cleared, then commit", async () => {
    const stuck = certificateId("stuck");
    registry.setFaults({ certificates: { [stuck]: { stuckPending: true } } });
    const tx = issueTx(stuck);
    const sentinel = issueTx(certificateId("sentinel"));
    await accepted([tx, sentinel]);
    await settled(sentinel.txId);
    expect(registry.status(tx.txId)).toEqual({ status: "pending" });
    registry.setFaults({ certificates: { [stuck]: null } });
    expect(await settled(tx.txId)).not.toBe("failed");
    expect(registry.receipts({ txId: tx.txId })[0]).toMatchObject({ outcome: "committed" });
  });

  it("failedStatusTtlMs: a failed status reads unknown once its time is up; the receipt keeps the outcome", async () => {
    const id = certificateId("ttl");
    const tx = encoded("cancel", id, {});
    await accepted([tx]);
    expect(await settled(tx.txId)).toBe("failed");
    registry.setFaults({ failedStatusTtlMs: 50 });
    await eventually(async () => expect(await getStatus(registry.url, tx.txId)).toEqual({ status: "unknown" }));
    expect(registry.receipts({ txId: tx.txId })[0]).toMatchObject({ outcome: "failed", message: `certificate ${id} does not exist` });
  });

  it("failWith on one certificate fails its transactions with that message and leaves the others alone", async () => {
    const [doomed, fine] = [certificateId("doomed"), certificateId("fine")];
    registry.setFaults({ certificates: { [doomed]: { failWith: "insufficient quantity" } } });
    const transactions = [issueTx(doomed), issueTx(fine)];
    await accepted(transactions);
    expect(await settled(transactions[0]!.txId)).toBe("failed");
    expect(registry.status(transactions[0]!.txId).message).toBe("insufficient quantity");
    expect(await settled(transactions[1]!.txId)).not.toBe("failed");
  });

  it("a fault change over HTTP is validated: a bad value is a 400 naming the field, and nothing changes", async () => {
    const bad = await control("PUT", "/_emulator/faults", { commitLatencyMs: { min: 10, max: 5 } });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/^commitLatencyMs/);
    const unknown = await control("PUT", "/_emulator/faults", { chaos: true });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].path).toBe("chaos");
    const good = await control("PUT", "/_emulator/faults", { dedupe: "txId", seed: 7 });
    expect(good.body).toMatchObject({ dedupe: "txId", seed: 7, commitLatencyMs: { min: 1, max: 5 } });
    expect((await control("GET", "/_emulator/faults")).body.dedupe).toBe("txId");
  });
});

describe("registry emulator control API", () => {
  it("an out-of-band change applies at once, shows in the stream and makes a queued command with the old version fail", async () => {
    const id = certificateId("oob");
    await issued(id);
    registry.setFaults({ streamReads: true, certificates: { [id]: { stuckPending: true } } });
    const queued = encoded("transfer", id, { to: "bob" }, { expectedVersion: 1 });
    await accepted([queued]);
    const changed = await control("POST", "/_emulator/out-of-band", { certificateId: id, owner: "mallory" });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ owner: "mallory", version: 2 });
    registry.setFaults({ certificates: { [id]: null } });
    expect(await settled(queued.txId)).toBe("failed");
    expect(registry.status(queued.txId).message).toMatch(/version mismatch/);
    const truth = await control("GET", `/_emulator/certificates/${id}`);
    expect(truth.body).toMatchObject({ owner: "mallory", version: 2 });
    expect(truth.body.transactions).toHaveLength(2);
    const [, outOfBand] = truth.body.transactions;
    expect(JSON.parse(Buffer.from(outOfBand.bytes, "base64").toString()).header.type).toBe("transfer");
    expect((await control("POST", "/_emulator/out-of-band", { certificateId: "nope", status: "withdrawn" })).status).toBe(404);
    expect((await control("POST", "/_emulator/out-of-band", { certificateId: id })).status).toBe(400);
  });

  it("lists receipts with their time and outcome, filtered, and counts them", async () => {
    const [a, b] = [certificateId("log"), certificateId("log")];
    const transactions = [issueTx(a), issueTx(b), encoded("cancel", certificateId("log-missing"), {})];
    await accepted(transactions);
    for (const tx of transactions) await settled(tx.txId);
    const all = await control("GET", "/_emulator/receipts");
    expect(all.body.receipts).toHaveLength(3);
    expect(all.body.receipts[0]).toMatchObject({
      seq: 1,
      txId: transactions[0]!.txId,
      commandId: transactions[0]!.commandId,
      certificateId: a,
      type: "issue",
      outcome: "committed",
    });
    expect(Date.parse(all.body.receipts[0].receivedAt)).not.toBeNaN();
    expect((await control("GET", `/_emulator/receipts?certificateId=${b}`)).body.receipts).toHaveLength(1);
    expect((await control("GET", "/_emulator/receipts?outcome=failed")).body.receipts).toHaveLength(1);
    expect((await control("GET", "/_emulator/stats")).body).toEqual({ certificates: 2, received: 3, pending: 0, committed: 2, failed: 1, duplicate: 0 });
    expect((await control("GET", "/_emulator/receipts", undefined, "wrong")).status).toBe(401);
  });

  it("answers 404 for a certificate it does not know", async () => {
    const missing = await control("GET", "/_emulator/certificates/nope");
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("not_found");
  });

  it("reset forgets every certificate, status and receipt, and restores the faults given at start", async () => {
    const id = certificateId("reset");
    await issued(id);
    registry.setFaults({ dedupe: "txId" });
    expect((await control("POST", "/_emulator/reset")).status).toBe(204);
    expect(registry.certificate(id)).toBeUndefined();
    expect(registry.receipts()).toEqual([]);
    expect(registry.faults().dedupe).toBe("none");
    await issued(id);
  });
});

describe("registry emulator processes", () => {
  it("runs as SERVICES=registry-emulator inside the normal process, on its own port", async () => {
    const port = await freePort();
    const system = await startTestSystem({
      env: { SERVICES: "registry-emulator", CERTFLOW_EMULATOR_PORT: String(port), CERTFLOW_EMULATOR_COMMIT_LATENCY_MS: "1-5", CERTFLOW_EMULATOR_ACCEPT_LATENCY_MS: "0" },
    });
    try {
      const url = `http://127.0.0.1:${port}`;
      const tx = issueTx(certificateId("service"));
      await accepted([tx], url);
      await eventually(async () => expect(["committed", "finalized"]).toContain((await getStatus(url, tx.txId)).status));
      expect((await control("GET", "/_emulator/receipts", undefined, ADMIN_TOKEN, url)).body.receipts).toHaveLength(1);
    } finally {
      await system.destroy();
    }
  });

  it("runs alone (npm run registry) with no PostgreSQL or NATS reachable", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", "src/registry-emulator/main.ts", "--port", String(port), "--commit-latency-ms", "1-5", "--accept-latency-ms", "0"], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      env: { PATH: process.env.PATH ?? "", CERTFLOW_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: "postgres://nobody@127.0.0.1:1/none", NATS_URL: "nats://127.0.0.1:1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on("line", (line) => {
          if (line.includes("registry emulator started")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`the emulator exited with ${code}`)));
      });
      const url = `http://127.0.0.1:${port}`;
      const tx = issueTx(certificateId("alone"));
      await accepted([tx], url);
      await eventually(async () => expect(["committed", "finalized"]).toContain((await getStatus(url, tx.txId)).status));
    } finally {
      child.kill("SIGTERM");
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
