import type { RegistryTransaction } from "./wire.js";

/**
 * The emulated registry's truth: its certificates and each one's committed transactions. Verifying
 * and applying a transaction is one step, so whatever is applied was valid against the state it met.
 */

export const REGISTRY_CERTIFICATE_STATUSES = ["active", "cancelled", "sliced", "claimed", "withdrawn"] as const;
export type RegistryCertificateStatus = (typeof REGISTRY_CERTIFICATE_STATUSES)[number];

export interface RegistryCertificate {
  certificateId: string;
  owner: string;
  quantityWh: number;
  status: RegistryCertificateStatus;
  /** After `issue`: the payload's `version` (1 when absent); every committed change adds 1. */
  version: number;
  /** The issue payload's other fields (kind, period, device ...), as issued. */
  attributes: Record<string, unknown>;
  slicedFrom?: string;
  beneficiary?: string;
  withdrawReason?: string;
}

export interface StreamEntry {
  txId: string;
  /** Position in the certificate's stream, contiguous from 0. */
  index: number;
  bytes: string;
}

export type Verdict = { ok: true } | { ok: false; message: string };

export class RegistryTruth {
  private readonly certificates = new Map<string, RegistryCertificate>();
  private readonly streams = new Map<string, StreamEntry[]>();

  get(certificateId: string): RegistryCertificate | undefined {
    const certificate = this.certificates.get(certificateId);
    return certificate && { ...certificate, attributes: { ...certificate.attributes } };
  }

  stream(certificateId: string): StreamEntry[] {
    return [...(this.streams.get(certificateId) ?? [])];
  }

  get size(): number {
    return this.certificates.size;
  }

  clear(): void {
    this.certificates.clear();
    this.streams.clear();
  }

  /** Verifies the transaction against the current state and, if valid, applies it and appends it to the streams it touches. */
  apply(transaction: RegistryTransaction, txId: string, bytes: string): Verdict {
    const verdict = this.verifyAndApply(transaction);
    if (verdict.ok) {
      this.append(transaction.header.certificateId, txId, bytes);
      if (transaction.header.type === "slice") {
        for (const part of slicePayload(transaction).parts) this.append(part.certificateId, txId, bytes);
      }
    }
    return verdict;
  }

  /** A change made by another party (or an operator fix): applied at once, version + 1, recorded in the stream when `entry` is given. */
  changeOutOfBand(
    certificateId: string,
    change: { owner?: string; status?: RegistryCertificateStatus; quantityWh?: number },
    entry?: { txId: string; bytes: string },
  ): RegistryCertificate | undefined {
    const certificate = this.certificates.get(certificateId);
    if (!certificate) return undefined;
    if (change.owner !== undefined) certificate.owner = change.owner;
    if (change.status !== undefined) certificate.status = change.status;
    if (change.quantityWh !== undefined) certificate.quantityWh = change.quantityWh;
    certificate.version += 1;
    if (entry) this.append(certificateId, entry.txId, entry.bytes);
    return this.get(certificateId);
  }

  private append(certificateId: string, txId: string, bytes: string): void {
    let stream = this.streams.get(certificateId);
    if (!stream) this.streams.set(certificateId, (stream = []));
    stream.push({ txId, index: stream.length, bytes });
  }

  private verifyAndApply(transaction: RegistryTransaction): Verdict {
    const { header, payload } = transaction;
    if (header.type === "issue") return this.issue(transaction);
    const certificate = this.certificates.get(header.certificateId);
    if (!certificate) return fail(`certificate ${header.certificateId} does not exist`);
    if (header.expectedVersion !== undefined && header.expectedVersion !== certificate.version) {
      return fail(`version mismatch: expected ${header.expectedVersion}, the registry has ${certificate.version}`);
    }
    if (certificate.status !== "active") return fail(`certificate ${header.certificateId} is ${certificate.status}, not active`);
    switch (header.type) {
      case "cancel":
        certificate.status = "cancelled";
        break;
      case "slice": {
        const verdict = this.slice(certificate, slicePayload(transaction).parts);
        if (!verdict.ok) return verdict;
        break;
      }
      case "transfer":
        certificate.owner = String(payload.to);
        break;
      case "claim":
        certificate.status = "claimed";
        certificate.beneficiary = String(payload.beneficiary);
        break;
      case "withdraw":
        certificate.status = "withdrawn";
        certificate.withdrawReason = String(payload.reason);
        break;
    }
    certificate.version += 1;
    return { ok: true };
  }

  private issue({ header, payload }: RegistryTransaction): Verdict {
    if (this.certificates.has(header.certificateId)) return fail(`certificate ${header.certificateId} already exists`);
    if (payload.certificateId !== header.certificateId) {
      return fail(`the payload's certificateId ${String(payload.certificateId)} differs from the header's ${header.certificateId}`);
    }
    if (header.expectedVersion !== undefined && header.expectedVersion !== 0) {
      return fail(`version mismatch: expected ${header.expectedVersion}, the registry has 0 (no such certificate)`);
    }
    const { certificateId, owner, quantityWh, version, status: _status, ...attributes } = payload;
    this.certificates.set(header.certificateId, {
      certificateId: String(certificateId),
      owner: String(owner),
      quantityWh: Number(quantityWh),
      status: "active",
      version: Number.isInteger(version) && (version as number) > 0 ? (version as number) : 1,
      attributes,
    });
    return { ok: true };
  }

  private slice(source: RegistryCertificate, parts: SlicePart[]): Verdict {
    const total = parts.reduce((sum, part) => sum + part.quantityWh, 0);
    if (total !== source.quantityWh) {
      return fail(`slice parts sum to ${total} Wh, certificate ${source.certificateId} holds ${source.quantityWh} Wh`);
    }
    const ids = new Set<string>();
    for (const part of parts) {
      if (part.quantityWh <= 0) return fail(`part ${part.certificateId} must hold more than 0 Wh`);
      if (ids.has(part.certificateId)) return fail(`part ${part.certificateId} appears twice`);
      if (part.certificateId === source.certificateId || this.certificates.has(part.certificateId)) {
        return fail(`certificate ${part.certificateId} already exists`);
      }
      ids.add(part.certificateId);
    }
    source.status = "sliced";
    for (const part of parts) {
      this.certificates.set(part.certificateId, {
        certificateId: part.certificateId,
        owner: part.owner,
        quantityWh: part.quantityWh,
        status: "active",
        version: 1,
        attributes: { ...source.attributes },
        slicedFrom: source.certificateId,
      });
    }
    return { ok: true };
  }
}

interface SlicePart {
  certificateId: string;
  quantityWh: number;
  owner: string;
}

function slicePayload(transaction: RegistryTransaction): { parts: SlicePart[] } {
  return transaction.payload as unknown as { parts: SlicePart[] };
}

const fail = (message: string): Verdict => ({ ok: false, message });
