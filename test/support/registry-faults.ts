import { EmbeddedRegistry, type Receipt, type RegistryFaults } from "../../src/certificates/registry/embedded-registry.js";

/**
 * What fault tests need from a registry: set faults, read the receipt log (the oracle of "sent
 * at most once"), look at a certificate, change one behind certflow's back. The embedded registry
 * provides it in-process; an HTTP registry emulator can provide the same over its admin API.
 */
export interface RegistryFaultControl {
  setFaults(faults: Partial<RegistryFaults>): unknown;
  receipts(): Receipt[];
  certificate(certificateId: string): { owner: string; status: string; version: number; quantityWh: number } | undefined;
  outOfBand(certificateId: string, change: { type: "transfer"; to: string } | { type: "withdraw"; reason: string }): unknown;
}

/** A fault-injectable registry for a test, with the test timings scaled down. */
export function faultyRegistry(seed = 1): EmbeddedRegistry {
  return new EmbeddedRegistry(seed);
}

/** I1: at most one receipt per command (duplicates the registry ignored by txId excepted). */
export function receiptsPerCommand(control: RegistryFaultControl): Map<string, number> {
  const counts = new Map<string, number>();
  for (const receipt of control.receipts()) {
    if (receipt.outcome === "duplicate_ignored") continue;
    counts.set(receipt.commandId, (counts.get(receipt.commandId) ?? 0) + 1);
  }
  return counts;
}

export type { Receipt, RegistryFaults };
