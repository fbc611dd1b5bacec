import type { CertificateTransactions, TransactionStatus } from "./wire.js";

/**
 * What a send taught us about whether the registry took the transactions in (DESIGN.md §8):
 * `received` (202); `not_received` (connection refused, 503 with `Registry-Received: false`), the
 * only case in which the same bytes may be sent again; `ambiguous` (a timeout, a reset, another
 * 5xx), after which only the status may be asked; `rejected` (4xx: the request itself is invalid).
 */
export type SubmitOutcome =
  | { kind: "received" }
  | { kind: "not_received"; reason: string }
  | { kind: "ambiguous"; reason: string }
  | { kind: "rejected"; reason: string };

export class RegistryUnreachable extends Error {
  override name = "RegistryUnreachable";
}

/** The external certificate registry, by capability: take transactions, tell their status, list a certificate's transactions. */
export interface CertificateRegistry {
  /** `embedded` or the registry's URL, for logs. */
  readonly description: string;
  submit(transactions: ReadonlyArray<{ bytes: string }>): Promise<SubmitOutcome>;
  /** Throws RegistryUnreachable when the registry cannot be asked. */
  status(txId: string): Promise<TransactionStatus>;
  /** The certificate's committed transactions, or `unsupported` when the registry does not offer them (501). */
  certificateTransactions(certificateId: string): Promise<CertificateTransactions | "unsupported">;
}
