import {
  decodeTransaction,
  encodeTransaction,
  txIdOf,
  type CertificateTransactions,
  type RegistryStatus,
  type RegistryTransaction,
  type TransactionStatus,
  type TransactionType,
} from "../../core/registry/wire.js";
import { RegistryUnreachable, type CertificateRegistry, type SubmitOutcome } from "../../core/registry/port.js";

/**
 * Faults the embedded registry can be told to show, close to what an HTTP registry emulator
 * exposes, so the same tests can drive either. Defaults: fast and reliable.
 */
export interface RegistryFaults {
  acceptLatencyMs: number;
  commitLatencyMs: { min: number; max: number };
  /** `refuse` (connection refused) or `503` (with `Registry-Received: false`): both provably not received. */
  unavailable: false | "refuse" | "503";
  /** Share of sends whose response is lost after the registry took them in (ambiguous to the client). */
  dropResponseRate: number;
  /** Share of sends lost before the registry saw them (a reset: ambiguous to the client). */
  dropRequestRate: number;
  /** Status queries fail as if the registry were unreachable. */
  statusUnavailable: boolean;
  /** `none`: the same bytes again are processed again (the seed's assumption); `txId`: ignored. */
  dedupe: "none" | "txId";
  /** Received transactions are never processed while set (they stay pending). */
  stuckPending: boolean;
  /** A failed status reads `unknown` this long after it was set. */
  failedStatusTtlMs: number;
  /** Whether `certificateTransactions` is offered (else "unsupported", as a 501). */
  streamReads: boolean;
  /** Transactions on these certificates fail (a business rule of the registry). */
  rejectCertificates: string[];
}

export const DEFAULT_FAULTS: RegistryFaults = {
  acceptLatencyMs: 0,
  commitLatencyMs: { min: 0, max: 0 },
  unavailable: false,
  dropResponseRate: 0,
  dropRequestRate: 0,
  statusUnavailable: false,
  dedupe: "none",
  stuckPending: false,
  failedStatusTtlMs: 3_600_000,
  streamReads: true,
  rejectCertificates: [],
};

/** One transaction as the registry received it: the oracle of "sent at most once". */
export interface Receipt {
  txId: string;
  commandId: string;
  certificateId: string;
  type: TransactionType | "invalid";
  receivedAt: string;
  outcome: "processing" | "duplicate_ignored" | "invalid" | "committed" | "failed";
  message?: string;
}

interface RegistryCertificate {
  certificateId: string;
  state: Record<string, unknown>;
  owner: string;
  quantityWh: number;
  status: string;
  version: number;
}

interface StatusEntry {
  status: RegistryStatus;
  message?: string;
  at: number;
}

/**
 * An in-process certificate registry: the truth when no external one is configured, and the test
 * double with fault knobs. Transactions of one certificate are processed one at a time in the
 * order received (like Project Origin's per-stream queue); of two that race only one wins.
 */
export class EmbeddedRegistry implements CertificateRegistry {
  readonly description = "embedded";
  private faults: RegistryFaults = { ...DEFAULT_FAULTS };
  private readonly certificates = new Map<string, RegistryCertificate>();
  private readonly streams = new Map<string, Array<{ txId: string; bytes: string }>>();
  private readonly statuses = new Map<string, StatusEntry>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly stuck: Array<() => void> = [];
  private readonly receiptLog: Receipt[] = [];
  private random: () => number;
  private outOfBandCount = 0;
  /** Transactions processed (for the benchmark's direct rate). */
  processed = 0;

  constructor(seed = 1) {
    this.random = seeded(seed);
  }

  setFaults(faults: Partial<RegistryFaults>): RegistryFaults {
    const wasStuck = this.faults.stuckPending;
    this.faults = { ...this.faults, ...faults };
    if (wasStuck && !this.faults.stuckPending) for (const release of this.stuck.splice(0)) release();
    return this.faults;
  }

  getFaults(): RegistryFaults {
    return { ...this.faults };
  }

  reseed(seed: number): void {
    this.random = seeded(seed);
  }

  receipts(): Receipt[] {
    return this.receiptLog.map((receipt) => ({ ...receipt }));
  }

  certificate(certificateId: string): Omit<RegistryCertificate, "state"> | undefined {
    const found = this.certificates.get(certificateId);
    return found && { certificateId, owner: found.owner, quantityWh: found.quantityWh, status: found.status, version: found.version };
  }

  /** Waits until everything received so far has been processed (not while stuck). */
  async settled(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }

  async submit(transactions: ReadonlyArray<{ bytes: string }>): Promise<SubmitOutcome> {
    if (this.faults.unavailable === "refuse") return { kind: "not_received", reason: "ECONNREFUSED" };
    if (this.faults.unavailable === "503") return { kind: "not_received", reason: "503 with Registry-Received: false" };
    if (this.faults.dropRequestRate > 0 && this.random() < this.faults.dropRequestRate) return { kind: "ambiguous", reason: "ECONNRESET" };
    if (this.faults.acceptLatencyMs > 0) await delay(this.faults.acceptLatencyMs);
    for (const { bytes } of transactions) this.receive(bytes);
    if (this.faults.dropResponseRate > 0 && this.random() < this.faults.dropResponseRate) return { kind: "ambiguous", reason: "response lost" };
    return { kind: "received" };
  }

  async status(txId: string): Promise<TransactionStatus> {
    if (this.faults.unavailable === "refuse" || this.faults.statusUnavailable) throw new RegistryUnreachable("ECONNREFUSED");
    if (this.faults.unavailable === "503") throw new RegistryUnreachable("HTTP 503");
    const entry = this.statuses.get(txId);
    if (!entry) return { status: "unknown" };
    if (entry.status === "failed" && Date.now() - entry.at > this.faults.failedStatusTtlMs) return { status: "unknown" };
    return entry.message === undefined ? { status: entry.status } : { status: entry.status, message: entry.message };
  }

  async certificateTransactions(certificateId: string): Promise<CertificateTransactions | "unsupported"> {
    if (!this.faults.streamReads) return "unsupported";
    if (this.faults.unavailable) throw new RegistryUnreachable("unavailable");
    const stream = this.streams.get(certificateId) ?? [];
    return { transactions: stream.map((entry, index) => ({ txId: entry.txId, index, bytes: entry.bytes })) };
  }

  /** Another party changes a certificate directly at the registry (an operator fix, another client). */
  outOfBand(certificateId: string, change: { type: "transfer"; to: string } | { type: "withdraw"; reason: string }): string {
    const certificate = this.certificates.get(certificateId);
    if (!certificate) throw new Error(`the registry has no certificate ${certificateId}`);
    const transaction: RegistryTransaction = {
      header: { certificateId, type: change.type, commandId: `out-of-band-${++this.outOfBandCount}`, nonce: `oob-${Date.now()}-${this.outOfBandCount}` },
      payload: change.type === "transfer" ? { to: change.to } : { reason: change.reason },
    };
    const { bytes, txId } = encodeTransaction(transaction);
    const message = this.apply(transaction, bytes, txId);
    if (message) throw new Error(message);
    this.statuses.set(txId, { status: "committed", at: Date.now() });
    return txId;
  }

  private receive(bytes: string): void {
    const txId = txIdOf(bytes);
    const decoded = decodeTransaction(bytes);
    const receivedAt = new Date().toISOString();
    if (!decoded.ok) {
      this.receiptLog.push({ txId, commandId: "", certificateId: "", type: "invalid", receivedAt, outcome: "invalid", message: decoded.error });
      this.setStatus(txId, "failed", decoded.error);
      return;
    }
    const { header } = decoded.transaction;
    const receipt: Receipt = { txId, commandId: header.commandId, certificateId: header.certificateId, type: header.type, receivedAt, outcome: "processing" };
    this.receiptLog.push(receipt);
    if (this.faults.dedupe === "txId" && this.statuses.has(txId)) {
      receipt.outcome = "duplicate_ignored";
      return;
    }
    this.setStatus(txId, "pending");
    const previous = this.queues.get(header.certificateId) ?? Promise.resolve();
    const next = previous.then(() => this.process(decoded.transaction, bytes, txId, receipt));
    this.queues.set(header.certificateId, next);
    void next.finally(() => {
      if (this.queues.get(header.certificateId) === next) this.queues.delete(header.certificateId);
    });
  }

  private async process(transaction: RegistryTransaction, bytes: string, txId: string, receipt: Receipt): Promise<void> {
    const { min, max } = this.faults.commitLatencyMs;
    const latency = min + (max - min) * this.random();
    if (latency > 0) await delay(latency);
    if (this.faults.stuckPending) await new Promise<void>((resolve) => this.stuck.push(resolve));
    const message = this.apply(transaction, bytes, txId);
    this.processed++;
    receipt.outcome = message ? "failed" : "committed";
    if (message) receipt.message = message;
    this.setStatus(txId, message ? "failed" : "committed", message);
  }

  /** Verifies and applies one transaction; returns why it failed, or undefined. */
  private apply(transaction: RegistryTransaction, bytes: string, txId: string): string | undefined {
    const { header, payload } = transaction;
    const id = header.certificateId;
    const certificate = this.certificates.get(id);
    if (this.faults.rejectCertificates.includes(id)) return `certificate ${id} is blocked at the registry`;
    if (header.type === "issue") {
      if (certificate) return `certificate ${id} already exists`;
      const issued = payload as { quantityWh: number; owner: string };
      this.certificates.set(id, { certificateId: id, state: payload, owner: issued.owner, quantityWh: issued.quantityWh, status: "active", version: 1 });
      this.record(id, txId, bytes);
      return undefined;
    }
    if (!certificate) return `certificate ${id} does not exist`;
    if (header.expectedVersion !== undefined && header.expectedVersion !== certificate.version) {
      return `version mismatch: certificate ${id} is at version ${certificate.version}, the transaction expects ${header.expectedVersion}`;
    }
    if (certificate.status !== "active") return `certificate ${id} is ${certificate.status}`;
    switch (header.type) {
      case "transfer":
        certificate.owner = (payload as { to: string }).to;
        break;
      case "cancel":
        certificate.status = "cancelled";
        break;
      case "claim":
        certificate.status = "claimed";
        break;
      case "withdraw":
        certificate.status = "withdrawn";
        break;
      case "slice": {
        const parts = (payload as { parts: Array<{ certificateId: string; quantityWh: number; owner: string }> }).parts;
        const sum = parts.reduce((total, part) => total + part.quantityWh, 0);
        if (sum !== certificate.quantityWh) return `slice parts sum to ${sum} Wh, certificate ${id} holds ${certificate.quantityWh} Wh`;
        const taken = parts.find((part) => this.certificates.has(part.certificateId));
        if (taken) return `certificate ${taken.certificateId} already exists`;
        certificate.status = "cancelled";
        for (const part of parts) {
          this.certificates.set(part.certificateId, {
            certificateId: part.certificateId,
            state: { ...certificate.state, ...part },
            owner: part.owner,
            quantityWh: part.quantityWh,
            status: "active",
            version: 1,
          });
          this.record(part.certificateId, txId, bytes);
        }
        break;
      }
    }
    certificate.version++;
    this.record(id, txId, bytes);
    return undefined;
  }

  private record(certificateId: string, txId: string, bytes: string): void {
    const stream = this.streams.get(certificateId) ?? [];
    stream.push({ txId, bytes });
    this.streams.set(certificateId, stream);
  }

  /** Statuses only move forward (a replay's failure does not hide a commit). */
  private setStatus(txId: string, status: RegistryStatus, message?: string): void {
    const current = this.statuses.get(txId);
    if (current && RANK[current.status] >= RANK[status] && current.status !== "pending") return;
    if (current && current.status !== "pending" && status === "pending") return;
    this.statuses.set(txId, message === undefined ? { status, at: Date.now() } : { status, message, at: Date.now() });
  }
}

const RANK: Record<RegistryStatus, number> = { unknown: 0, pending: 1, failed: 2, committed: 3, finalized: 4 };

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** mulberry32: a small seeded PRNG, so a fault pattern can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
