import { randomUUID } from "node:crypto";
import {
  encodeTransaction,
  type RegistryTransaction,
  type TransactionStatus,
  type TransactionType,
} from "./wire.js";
import { applyFaultsPatch, faultsFor, seededRandom, type EffectiveFaults, type Faults, type FaultsPatch } from "./faults.js";
import { RegistryTruth, type RegistryCertificate, type RegistryCertificateStatus, type StreamEntry } from "./truth.js";

/**
 * The emulated registry without HTTP: receipts, one queue per certificate processed serially, the
 * status of every transaction id, blocks, and the fault knobs that act after a transaction arrived.
 * State lives in memory only: a new emulator (or `reset`) is a fresh registry.
 */

export type ReceiptOutcome = "pending" | "committed" | "failed" | "duplicate";

export interface Receipt {
  /** Order of arrival, from 1. */
  seq: number;
  txId: string;
  commandId: string;
  certificateId: string;
  type: TransactionType;
  receivedAt: string;
  /** `duplicate`: ignored under `dedupe: txId` because the id was already known. */
  outcome: ReceiptOutcome;
  message?: string;
  processedAt?: string;
}

export interface ReceiptFilter {
  certificateId?: string;
  commandId?: string;
  txId?: string;
  outcome?: ReceiptOutcome;
}

export interface ReceivedTransaction {
  bytes: string;
  txId: string;
  transaction: RegistryTransaction;
}

export interface OutOfBandChange {
  certificateId: string;
  owner?: string;
  status?: RegistryCertificateStatus;
  quantityWh?: number;
}

export interface EmulatorStats {
  certificates: number;
  received: number;
  pending: number;
  committed: number;
  failed: number;
  duplicate: number;
}

interface StatusRecord {
  status: "pending" | "committed" | "finalized" | "failed";
  certificateId: string;
  message?: string;
  failedAt?: number;
}

interface Work extends ReceivedTransaction {
  receipt: Receipt;
}

export class RegistryEmulator {
  private readonly truth = new RegistryTruth();
  private readonly statuses = new Map<string, StatusRecord>();
  private readonly receiptLog: Receipt[] = [];
  private readonly queues = new Map<string, Work[]>();
  private readonly unfinalized = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout | NodeJS.Immediate>();
  private readonly stuckWaiters = new Set<() => void>();
  private readonly faultListeners = new Set<(faults: Faults) => void>();
  private counts = { pending: 0, committed: 0, failed: 0, duplicate: 0 };
  private currentFaults: Faults;
  private random: () => number;
  private finalizer: NodeJS.Timeout | undefined;
  private globalFaults: { of: Faults; effective: EffectiveFaults } | undefined;
  private closed = false;
  /** Bumped by `reset`, so work queued before it stops where it is. */
  private epoch = 0;

  constructor(private readonly startFaults: Faults) {
    this.currentFaults = startFaults;
    this.random = seededRandom(startFaults.seed);
    this.scheduleFinalizer();
  }

  get faults(): Faults {
    return this.currentFaults;
  }

  setFaults(patch: FaultsPatch): Faults {
    const previous = this.currentFaults;
    this.currentFaults = applyFaultsPatch(previous, patch);
    if (patch.seed !== undefined) this.random = seededRandom(patch.seed);
    if (this.currentFaults.finalizeIntervalMs !== previous.finalizeIntervalMs) this.scheduleFinalizer();
    this.wakeStuck();
    for (const listener of this.faultListeners) listener(this.currentFaults);
    return this.currentFaults;
  }

  /** Called after every fault change (the HTTP server uses it to refuse or accept connections). */
  onFaultsChange(listener: (faults: Faults) => void): () => void {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }

  /** The knobs acting on one certificate's transactions (its overrides, else the global ones). */
  faultsFor(certificateId?: string): EffectiveFaults {
    const faults = this.currentFaults;
    if (certificateId !== undefined && certificateId in faults.certificates) return faultsFor(faults, certificateId);
    // Asked once or more per transaction: the global knobs are worked out once per change.
    if (this.globalFaults?.of !== faults) this.globalFaults = { of: faults, effective: faultsFor(faults, undefined) };
    return this.globalFaults.effective;
  }

  /** A number in [0, 1) from the seeded PRNG: every random fault decision draws from it. */
  draw(): number {
    return this.random();
  }

  /** Records a receipt for each transaction and queues it on its certificate, unless `dedupe: txId` knows its id. */
  receive(transactions: readonly ReceivedTransaction[]): Receipt[] {
    // A request still held by delayRequestMs when the registry stopped is never taken in.
    if (this.closed) return [];
    return transactions.map((received) => {
      const { header } = received.transaction;
      const known = this.status(received.txId).status !== "unknown";
      const duplicate = known && this.currentFaults.dedupe === "txId";
      const receipt: Receipt = {
        seq: this.receiptLog.length + 1,
        txId: received.txId,
        commandId: header.commandId,
        certificateId: header.certificateId,
        type: header.type,
        receivedAt: new Date().toISOString(),
        outcome: duplicate ? "duplicate" : "pending",
      };
      this.receiptLog.push(receipt);
      this.counts[receipt.outcome] += 1;
      if (duplicate) return receipt;
      // Without dedupe a second copy is processed again; the id's status stays that of the first processing.
      if (!known) this.statuses.set(received.txId, { status: "pending", certificateId: header.certificateId });
      this.enqueue({ ...received, receipt });
      return receipt;
    });
  }

  status(txId: string): TransactionStatus {
    const record = this.statuses.get(txId);
    if (!record) return { status: "unknown" };
    if (record.status === "failed") {
      const ttl = this.faultsFor(record.certificateId).failedStatusTtlMs;
      if (Date.now() - record.failedAt! >= ttl) return { status: "unknown" };
      return { status: "failed", message: record.message! };
    }
    return { status: record.status };
  }

  stream(certificateId: string): StreamEntry[] {
    return this.truth.stream(certificateId);
  }

  certificate(certificateId: string): RegistryCertificate | undefined {
    return this.truth.get(certificateId);
  }

  receipts(filter: ReceiptFilter = {}): Receipt[] {
    return this.receiptLog
      .filter(
        (receipt) =>
          (filter.certificateId === undefined || receipt.certificateId === filter.certificateId) &&
          (filter.commandId === undefined || receipt.commandId === filter.commandId) &&
          (filter.txId === undefined || receipt.txId === filter.txId) &&
          (filter.outcome === undefined || receipt.outcome === filter.outcome),
      )
      .map((receipt) => ({ ...receipt }));
  }

  stats(): EmulatorStats {
    return { certificates: this.truth.size, received: this.receiptLog.length, ...this.counts };
  }

  /**
   * Changes a certificate as another party would, at once. An owner or status change is recorded in
   * the certificate's stream as the transaction that party would have sent; a quantity change is not
   * expressible on the wire and shows only in the certificate's state and version.
   */
  changeOutOfBand(change: OutOfBandChange): RegistryCertificate | undefined {
    const { certificateId, ...fields } = change;
    if (!this.truth.get(certificateId)) return undefined;
    let certificate: RegistryCertificate | undefined;
    for (const [field, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      const entry = this.outOfBandEntry(certificateId, { [field]: value });
      certificate = this.truth.changeOutOfBand(certificateId, { [field]: value }, entry);
      if (entry) this.markCommitted(entry.txId, certificateId);
    }
    return certificate ?? this.truth.get(certificateId);
  }

  /** Forgets every certificate, status, receipt and queued transaction, and restores the faults given at start. */
  reset(): void {
    this.epoch += 1;
    this.clearTimers();
    this.truth.clear();
    this.statuses.clear();
    this.receiptLog.length = 0;
    this.queues.clear();
    this.unfinalized.clear();
    this.counts = { pending: 0, committed: 0, failed: 0, duplicate: 0 };
    this.currentFaults = this.startFaults;
    this.random = seededRandom(this.startFaults.seed);
    this.scheduleFinalizer();
    this.wakeStuck();
    for (const listener of this.faultListeners) listener(this.currentFaults);
  }

  /** Stops every timer and takes nothing in any more; queued transactions stay pending. */
  close(): void {
    this.closed = true;
    this.epoch += 1;
    this.clearTimers();
    if (this.finalizer) clearInterval(this.finalizer);
    this.finalizer = undefined;
    this.wakeStuck();
  }

  private enqueue(work: Work): void {
    const certificateId = work.transaction.header.certificateId;
    const queue = this.queues.get(certificateId);
    if (queue) {
      queue.push(work);
      return;
    }
    const fresh = [work];
    this.queues.set(certificateId, fresh);
    void this.drain(certificateId, fresh, this.epoch);
  }

  /** One certificate's queue, one transaction at a time: each waits its commit latency, then is verified against the state then. */
  private async drain(certificateId: string, queue: Work[], epoch: number): Promise<void> {
    while (queue.length > 0) {
      if (this.faultsFor(certificateId).stuckPending) await this.untilNotStuck(certificateId, epoch);
      if (epoch !== this.epoch) return;
      const { min, max } = this.faultsFor(certificateId).commitLatencyMs;
      await this.wait(min + Math.floor(this.draw() * (max - min + 1)));
      if (epoch !== this.epoch) return;
      if (this.faultsFor(certificateId).stuckPending) continue;
      this.process(queue.shift()!);
    }
    this.queues.delete(certificateId);
  }

  private process(work: Work): void {
    const { certificateId } = work.transaction.header;
    const failWith = this.faultsFor(certificateId).failWith;
    const verdict = failWith ? { ok: false as const, message: failWith } : this.truth.apply(work.transaction, work.txId, work.bytes);
    const { receipt } = work;
    this.counts.pending -= 1;
    receipt.outcome = verdict.ok ? "committed" : "failed";
    if (!verdict.ok) receipt.message = verdict.message;
    receipt.processedAt = new Date().toISOString();
    this.counts[receipt.outcome] += 1;
    const record = this.statuses.get(work.txId);
    if (record?.status !== "pending") return;
    if (verdict.ok) {
      record.status = "committed";
      this.unfinalized.add(work.txId);
    } else {
      record.status = "failed";
      record.message = verdict.message;
      record.failedAt = Date.now();
    }
  }

  private markCommitted(txId: string, certificateId: string): void {
    this.statuses.set(txId, { status: "committed", certificateId });
    this.unfinalized.add(txId);
  }

  private outOfBandEntry(certificateId: string, change: Omit<OutOfBandChange, "certificateId">): { txId: string; bytes: string } | undefined {
    const wire = outOfBandTransaction(change);
    if (!wire) return undefined;
    const commandId = `out-of-band-${randomUUID()}`;
    const version = this.truth.get(certificateId)!.version;
    return encodeTransaction({
      header: { certificateId, type: wire.type, commandId, nonce: randomUUID(), expectedVersion: version },
      payload: wire.payload,
    });
  }

  private untilNotStuck(certificateId: string, epoch: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (epoch !== this.epoch || !this.faultsFor(certificateId).stuckPending) {
          this.stuckWaiters.delete(check);
          resolve();
        }
      };
      this.stuckWaiters.add(check);
      check();
    });
  }

  private wakeStuck(): void {
    for (const check of [...this.stuckWaiters]) check();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.timers.delete(timer);
        resolve();
      };
      const timer = ms <= 0 ? setImmediate(done) : setTimeout(done, ms);
      this.timers.add(timer);
    });
  }

  private clearTimers(): void {
    for (const timer of this.timers) {
      clearTimeout(timer as NodeJS.Timeout);
      clearImmediate(timer as NodeJS.Immediate);
    }
    this.timers.clear();
  }

  private scheduleFinalizer(): void {
    if (this.finalizer) clearInterval(this.finalizer);
    this.finalizer = undefined;
    const interval = this.currentFaults.finalizeIntervalMs;
    if (interval === 0) return;
    this.finalizer = setInterval(() => this.cutBlock(), interval);
    this.finalizer.unref();
  }

  /** A block: every committed transaction so far becomes finalized. */
  private cutBlock(): void {
    for (const txId of this.unfinalized) {
      const record = this.statuses.get(txId);
      if (record?.status === "committed") record.status = "finalized";
    }
    this.unfinalized.clear();
  }
}

function outOfBandTransaction(
  change: Omit<OutOfBandChange, "certificateId">,
): { type: TransactionType; payload: Record<string, unknown> } | undefined {
  if (change.owner !== undefined) return { type: "transfer", payload: { to: change.owner } };
  switch (change.status) {
    case "cancelled":
      return { type: "cancel", payload: {} };
    case "claimed":
      return { type: "claim", payload: { beneficiary: "out-of-band" } };
    case "withdrawn":
      return { type: "withdraw", payload: { reason: "out-of-band" } };
    default:
      return undefined;
  }
}
