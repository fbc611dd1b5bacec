import { RegistryEmulator, type ReceivedTransaction } from "../../core/registry/emulator.js";
import { DEMO_FAULTS, FaultsSchema, type Faults } from "../../core/registry/faults.js";
import type { CertificateRegistry, SubmitOutcome } from "../../core/registry/port.js";
import { decodeTransaction, txIdOf, type CertificateTransactions, type TransactionStatus } from "../../core/registry/wire.js";

/** Fast and reliable, stream reads offered: the registry of `npm start` without CERTFLOW_REGISTRY_URL. */
export const EMBEDDED_FAULTS: Faults = FaultsSchema.parse({
  ...DEMO_FAULTS,
  acceptLatencyMs: 0,
  commitLatencyMs: { min: 0, max: 0 },
  streamReads: true,
});

/**
 * An in-process certificate registry, the truth when no external one is configured: the registry
 * emulator's engine called directly, so it verifies and orders transactions exactly as the
 * emulator does over HTTP (one queue per certificate; of two that race only one wins).
 */
export class EmbeddedRegistry implements CertificateRegistry {
  readonly description = "embedded";

  constructor(private readonly engine = new RegistryEmulator(EMBEDDED_FAULTS)) {}

  /** One undecodable transaction refuses the whole batch, as the emulator's 400 does. */
  async submit(transactions: ReadonlyArray<{ bytes: string }>): Promise<SubmitOutcome> {
    const received: ReceivedTransaction[] = [];
    for (const [index, { bytes }] of transactions.entries()) {
      const decoded = decodeTransaction(bytes);
      if (!decoded.ok) return { kind: "rejected", reason: `transactions.${index}.bytes: ${decoded.error}` };
      received.push({ bytes, txId: txIdOf(bytes), transaction: decoded.transaction });
    }
    this.engine.receive(received);
    return { kind: "received" };
  }

  async status(txId: string): Promise<TransactionStatus> {
    return this.engine.status(txId);
  }

  async certificateTransactions(certificateId: string): Promise<CertificateTransactions | "unsupported"> {
    if (!this.engine.faults.streamReads) return "unsupported";
    return { transactions: this.engine.stream(certificateId) };
  }
}
