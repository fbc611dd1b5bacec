import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/core/config.js";
import { encodeTransaction, type RegistryTransaction, type TransactionHeader } from "../../src/core/registry/wire.js";
import { RegistryEmulator } from "../../src/core/registry/emulator.js";
import { DEMO_FAULTS, applyFaultsPatch, faultsFor, seededRandom, type Faults } from "../../src/core/registry/faults.js";
import { flagsToEnv } from "../../src/registry-emulator/flags.js";
import { RegistryTruth } from "../../src/core/registry/truth.js";
import { eventually } from "../support/eventually.js";

let nonce = 0;
function transaction(type: TransactionHeader["type"], certificateId: string, payload: Record<string, unknown>, header: Partial<TransactionHeader> = {}): RegistryTransaction {
  return { header: { certificateId, type, commandId: `cmd-${nonce}`, nonce: `n-${nonce++}`, ...header }, payload };
}
const issue = (id: string, quantityWh = 100, extra: Record<string, unknown> = {}) =>
  transaction("issue", id, { certificateId: id, quantityWh, owner: "alice", ...extra });

function applied(truth: RegistryTruth, tx: RegistryTransaction) {
  const { bytes, txId } = encodeTransaction(tx);
  return truth.apply(tx, txId, bytes);
}

describe("RegistryTruth", () => {
  it("issues a certificate at the payload's version, keeping its other fields as attributes", () => {
    const truth = new RegistryTruth();
    expect(applied(truth, issue("A", 100, { version: 3, kind: "annual", status: "active" }))).toEqual({ ok: true });
    expect(truth.get("A")).toEqual({ certificateId: "A", owner: "alice", quantityWh: 100, status: "active", version: 3, attributes: { kind: "annual" } });
    expect(truth.stream("A")).toHaveLength(1);
  });

  it("refuses an issue whose payload names another certificate than the header", () => {
    const verdict = applied(new RegistryTruth(), transaction("issue", "A", { certificateId: "B", quantityWh: 1, owner: "a" }));
    expect(verdict).toEqual({ ok: false, message: "the payload's certificateId B differs from the header's A" });
  });

  it("leaves the state and the stream alone when a transaction fails", () => {
    const truth = new RegistryTruth();
    applied(truth, issue("A", 100));
    const parts = [{ certificateId: "A-1", quantityWh: 60, owner: "a" }, { certificateId: "A-1", quantityWh: 40, owner: "b" }];
    expect(applied(truth, transaction("slice", "A", { parts }))).toEqual({ ok: false, message: "part A-1 appears twice" });
    expect(applied(truth, transaction("slice", "A", { parts: [{ certificateId: "A", quantityWh: 100, owner: "a" }] }))).toEqual({
      ok: false,
      message: "certificate A already exists",
    });
    expect(applied(truth, transaction("slice", "A", { parts: [{ certificateId: "Z", quantityWh: 0, owner: "a" }, { certificateId: "Y", quantityWh: 100, owner: "a" }] }))).toMatchObject({ ok: false });
    expect(truth.get("A")).toMatchObject({ status: "active", version: 1 });
    expect(truth.get("A-1")).toBeUndefined();
    expect(truth.stream("A")).toHaveLength(1);
  });

  it("applies a transfer without expectedVersion again when it is replayed (not idempotent)", () => {
    const truth = new RegistryTruth();
    applied(truth, issue("A"));
    const transfer = transaction("transfer", "A", { to: "bob" });
    expect(applied(truth, transfer)).toEqual({ ok: true });
    expect(applied(truth, transfer)).toEqual({ ok: true });
    expect(truth.get("A")).toMatchObject({ owner: "bob", version: 3 });
  });

  it("fails the replay of a transfer with expectedVersion", () => {
    const truth = new RegistryTruth();
    applied(truth, issue("A"));
    const transfer = transaction("transfer", "A", { to: "bob" }, { expectedVersion: 1 });
    expect(applied(truth, transfer)).toEqual({ ok: true });
    expect(applied(truth, transfer)).toEqual({ ok: false, message: "version mismatch: expected 1, the registry has 2" });
  });

  it("records an out-of-band change with a version bump, in the stream only when an entry is given", () => {
    const truth = new RegistryTruth();
    applied(truth, issue("A"));
    expect(truth.changeOutOfBand("A", { quantityWh: 50 })).toMatchObject({ quantityWh: 50, version: 2 });
    expect(truth.stream("A")).toHaveLength(1);
    expect(truth.changeOutOfBand("A", { owner: "eve" }, { txId: "t", bytes: "b" })).toMatchObject({ owner: "eve", version: 3 });
    expect(truth.stream("A").map((entry) => entry.index)).toEqual([0, 1]);
    expect(truth.changeOutOfBand("missing", { owner: "eve" })).toBeUndefined();
  });
});

describe("fault knobs", () => {
  it("changes only the knobs named, replaces a certificate's overrides and removes them with null", () => {
    let faults = applyFaultsPatch(DEMO_FAULTS, { dedupe: "txId", certificates: { A: { stuckPending: true }, B: { failWith: "no" } } });
    expect(faults).toMatchObject({ dedupe: "txId", commitLatencyMs: DEMO_FAULTS.commitLatencyMs, certificates: { A: { stuckPending: true } } });
    faults = applyFaultsPatch(faults, { certificates: { A: null, B: { dropResponseRate: 1 } } });
    expect(faults.certificates).toEqual({ B: { dropResponseRate: 1 } });
  });

  it("refuses a patch that makes the faults invalid", () => {
    expect(() => applyFaultsPatch(DEMO_FAULTS, { commitLatencyMs: { min: 5, max: 1 } })).toThrow(/min must not exceed max/);
  });

  it("gives a certificate its overrides on top of the global knobs", () => {
    const faults = applyFaultsPatch(DEMO_FAULTS, { acceptLatencyMs: 7, certificates: { A: { stuckPending: true } } });
    expect(faultsFor(faults, "A")).toMatchObject({ acceptLatencyMs: 7, stuckPending: true });
    expect(faultsFor(faults, "B")).toMatchObject({ acceptLatencyMs: 7, stuckPending: false });
    expect(faultsFor(faults, "A")).not.toHaveProperty("certificates");
  });

  it("draws the same numbers from the same seed", () => {
    const draws = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));
    expect(draws(42)).toEqual(draws(42));
    expect(draws(42)).not.toEqual(draws(43));
    for (const value of draws(1)) expect(value >= 0 && value < 1).toBe(true);
  });
});

describe("emulator command line", () => {
  it("maps flags to the environment variables of the same knobs", () => {
    expect(flagsToEnv(["--port", "9000", "--commit-latency-ms=20-60", "--stuck-pending", "--dedupe", "txId", "--stream-reads"])).toEqual({
      CERTFLOW_EMULATOR_PORT: "9000",
      CERTFLOW_EMULATOR_COMMIT_LATENCY_MS: "20-60",
      CERTFLOW_EMULATOR_STUCK_PENDING: "true",
      CERTFLOW_EMULATOR_DEDUPE: "txId",
      CERTFLOW_EMULATOR_STREAM_READS: "true",
    });
  });

  it("refuses an unknown flag or a missing value on one line", () => {
    expect(() => flagsToEnv(["--chaos"])).toThrow(ConfigError);
    expect(() => flagsToEnv(["--port"])).toThrow("--port needs a value");
  });
});

describe("RegistryEmulator", () => {
  const fast: Faults = applyFaultsPatch(DEMO_FAULTS, { commitLatencyMs: { min: 0, max: 0 }, finalizeIntervalMs: 0 });
  const received = (tx: RegistryTransaction) => ({ ...encodeTransaction(tx), transaction: tx });

  it("keeps a txId's first status when a replay without dedupe fails, so the status never moves back", async () => {
    const emulator = new RegistryEmulator(fast);
    try {
      emulator.receive([received(issue("A"))]);
      const cancel = received(transaction("cancel", "A", {}));
      emulator.receive([cancel]);
      await eventually(() => expect(emulator.status(cancel.txId)).toEqual({ status: "committed" }));
      emulator.receive([cancel]);
      await eventually(() => expect(emulator.receipts({ txId: cancel.txId }).map((r) => r.outcome)).toEqual(["committed", "failed"]));
      expect(emulator.status(cancel.txId)).toEqual({ status: "committed" });
      expect(emulator.stats()).toMatchObject({ received: 3, committed: 2, failed: 1, pending: 0 });
    } finally {
      emulator.close();
    }
  });

  it("processes a forgotten failed transaction again when it is resent, even under dedupe txId", async () => {
    const emulator = new RegistryEmulator(applyFaultsPatch(fast, { dedupe: "txId", failedStatusTtlMs: 1_000_000 }));
    try {
      const transfer = received(transaction("transfer", "A", { to: "bob" }));
      emulator.receive([transfer]);
      await eventually(() => expect(emulator.status(transfer.txId).status).toBe("failed"));
      emulator.receive([transfer]);
      expect(emulator.receipts({ txId: transfer.txId }).map((r) => r.outcome)).toEqual(["failed", "duplicate"]);
      emulator.setFaults({ failedStatusTtlMs: 1 });
      await eventually(() => expect(emulator.status(transfer.txId).status).toBe("unknown"));
      emulator.receive([received(issue("A"))]);
      emulator.receive([transfer]);
      await eventually(() => expect(emulator.status(transfer.txId).status).toBe("committed"));
      expect(emulator.certificate("A")).toMatchObject({ owner: "bob" });
    } finally {
      emulator.close();
    }
  });

  it("finalizes committed transactions when a block is cut", async () => {
    const emulator = new RegistryEmulator(applyFaultsPatch(fast, { finalizeIntervalMs: 20 }));
    try {
      const tx = received(issue("A"));
      emulator.receive([tx]);
      await eventually(() => expect(emulator.status(tx.txId).status).toBe("finalized"));
    } finally {
      emulator.close();
    }
  });

  it("forgets queued work on reset", async () => {
    const emulator = new RegistryEmulator(applyFaultsPatch(fast, { stuckPending: true }));
    try {
      const tx = received(issue("A"));
      emulator.receive([tx]);
      emulator.reset();
      expect(emulator.status(tx.txId)).toEqual({ status: "unknown" });
      const sentinel = received(issue("B"));
      emulator.receive([sentinel]);
      expect(emulator.status(sentinel.txId).status).toBe("pending");
      emulator.setFaults({ stuckPending: false });
      await eventually(() => expect(emulator.status(sentinel.txId).status).toBe("committed"));
      expect(emulator.certificate("A")).toBeUndefined();
    } finally {
      emulator.close();
    }
  });
});
