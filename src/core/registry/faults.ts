import { z } from "zod";

/**
 * The emulator's fault knobs (and its one capability flag, `streamReads`). What each looks like on
 * the wire is in the README's "Registry emulator" section.
 */

const milliseconds = z.number().int().min(0).max(24 * 3_600_000);
const rate = z.number().min(0).max(1);

const LatencyRangeSchema = z
  .strictObject({ min: milliseconds, max: milliseconds })
  .refine((range) => range.min <= range.max, { error: "min must not exceed max" });

/** Knobs that can also be set for one certificate: they act on that certificate's transactions. */
const CertificateFaultsSchema = z.strictObject({
  acceptLatencyMs: milliseconds.optional(),
  commitLatencyMs: LatencyRangeSchema.optional(),
  dropRequestRate: rate.optional(),
  dropResponseRate: rate.optional(),
  delayRequestMs: milliseconds.optional(),
  stuckPending: z.boolean().optional(),
  failedStatusTtlMs: milliseconds.min(1).optional(),
  /** Every transaction of the certificate fails at verification with this message. */
  failWith: z.string().min(1).max(500).nullable().optional(),
});
export type CertificateFaults = z.infer<typeof CertificateFaultsSchema>;

export const UNAVAILABLE_MODES = ["off", "refuse", "503"] as const;
export const DEDUPE_MODES = ["none", "txId"] as const;

export const FaultsSchema = z.strictObject({
  /** Receipt -> 202 answer. */
  acceptLatencyMs: milliseconds,
  /** Receipt -> committed or failed, drawn per transaction from the seeded PRNG. */
  commitLatencyMs: LatencyRangeSchema,
  /** Committed transactions become finalized when a block is cut, every this many ms; 0: never. */
  finalizeIntervalMs: milliseconds,
  unavailable: z.enum(UNAVAILABLE_MODES),
  dropRequestRate: rate,
  dropResponseRate: rate,
  delayRequestMs: milliseconds,
  stuckPending: z.boolean(),
  failedStatusTtlMs: milliseconds.min(1),
  dedupe: z.enum(DEDUPE_MODES),
  failWith: z.string().min(1).max(500).nullable(),
  /** `GET /v1/certificates/{id}/transactions` answers; off it is 501 (a registry without stream reads). */
  streamReads: z.boolean(),
  seed: z.number().int().min(0).max(2 ** 32 - 1),
  /** Per-certificate overrides of the knobs above that act on one certificate's transactions. */
  certificates: z.record(z.string().min(1).max(200), CertificateFaultsSchema),
});
export type Faults = z.infer<typeof FaultsSchema>;

/**
 * `PUT /_emulator/faults` body: the knobs to change; the others keep their value. In `certificates`,
 * a certificate's overrides replace its previous ones, and `null` removes them.
 */
export const FaultsPatchSchema = FaultsSchema.omit({ certificates: true })
  .partial()
  .extend({ certificates: z.record(z.string().min(1).max(200), CertificateFaultsSchema.nullable()).optional() });
export type FaultsPatch = z.infer<typeof FaultsPatchSchema>;

/** A registry that takes seconds, as in the demo (research/registry-connector.md §5a). */
export const DEMO_FAULTS: Faults = {
  acceptLatencyMs: 300,
  commitLatencyMs: { min: 2000, max: 6000 },
  finalizeIntervalMs: 30_000,
  unavailable: "off",
  dropRequestRate: 0,
  dropResponseRate: 0,
  delayRequestMs: 0,
  stuckPending: false,
  failedStatusTtlMs: 3_600_000,
  dedupe: "none",
  failWith: null,
  streamReads: false,
  seed: 1,
  certificates: {},
};

export function applyFaultsPatch(current: Faults, patch: FaultsPatch): Faults {
  const { certificates, ...knobs } = patch;
  const merged: Record<string, CertificateFaults> = { ...current.certificates };
  for (const [certificateId, overrides] of Object.entries(certificates ?? {})) {
    if (overrides === null) delete merged[certificateId];
    else merged[certificateId] = overrides;
  }
  const defined = Object.fromEntries(Object.entries(knobs).filter(([, value]) => value !== undefined));
  return FaultsSchema.parse({ ...current, ...defined, certificates: merged });
}

export type EffectiveFaults = Omit<Faults, "certificates">;

/** The knobs that act on a certificate's transactions: its own overrides, else the global ones. */
export function faultsFor(faults: Faults, certificateId: string | undefined): EffectiveFaults {
  const { certificates, ...global } = faults;
  const overrides = certificateId === undefined ? undefined : certificates[certificateId];
  if (!overrides) return global;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  return { ...global, ...defined };
}

/** Mulberry32: a small seeded PRNG, so a faulty run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
