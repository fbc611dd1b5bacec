/**
 * The external certificate registry's wire contract (DESIGN.md §8), shared by the connector's HTTP
 * adapter (client side) and the registry emulator (server side), so both compute the same bytes and ids.
 *
 * A transaction travels as `bytes`: base64 of canonical JSON `{header, payload}`. Its id is
 * `base64url(sha256(raw bytes))`, computed by both sides; the registry never returns it.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

export const TRANSACTION_TYPES = ["issue", "cancel", "slice", "transfer", "claim", "withdraw"] as const;
export type TransactionType = (typeof TRANSACTION_TYPES)[number];

export const REGISTRY_STATUSES = ["unknown", "pending", "committed", "finalized", "failed"] as const;
export type RegistryStatus = (typeof REGISTRY_STATUSES)[number];

/** `Registry-Received: false` on a 503 means the registry provably did not take the request in. */
export const REGISTRY_RECEIVED_HEADER = "registry-received";
/** Most transactions in one `POST /v1/transactions`. */
export const MAX_TRANSACTIONS_PER_REQUEST = 1000;

const id = z.string().min(1).max(200);

export const TransactionHeaderSchema = z.strictObject({
  certificateId: id,
  type: z.enum(TRANSACTION_TYPES),
  commandId: id,
  /** Makes otherwise identical transactions distinct; chosen once, when the command is accepted. */
  nonce: z.string().min(1).max(100),
  /** The certificate's version before the command; a stale one fails, so a replay fails. */
  expectedVersion: z.number().int().min(0).optional(),
});
export type TransactionHeader = z.infer<typeof TransactionHeaderSchema>;

const wattHours = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Payloads by type. `issue` carries the certificate's full state (DESIGN.md §3). */
export const PAYLOAD_SCHEMAS = {
  issue: z.looseObject({ certificateId: id, quantityWh: wattHours, owner: id }),
  cancel: z.strictObject({}),
  slice: z.strictObject({
    parts: z.array(z.strictObject({ certificateId: id, quantityWh: wattHours, owner: id })).min(1).max(10_000),
  }),
  transfer: z.strictObject({ to: id }),
  claim: z.strictObject({ beneficiary: z.string().min(1).max(200) }),
  withdraw: z.strictObject({ reason: z.string().max(500) }),
} satisfies Record<TransactionType, z.ZodType>;

export interface RegistryTransaction {
  header: TransactionHeader;
  payload: Record<string, unknown>;
}

export interface EncodedTransaction {
  /** base64 of the canonical JSON; stored with the command once and never rebuilt. */
  bytes: string;
  txId: string;
}

/** JSON with object keys sorted at every level, so equal values give equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

export function encodeTransaction(transaction: RegistryTransaction): EncodedTransaction {
  const bytes = Buffer.from(canonicalJson(transaction), "utf8").toString("base64");
  return { bytes, txId: txIdOf(bytes) };
}

/** `base64url(sha256(raw bytes))` of a transaction's base64 `bytes`. */
export function txIdOf(bytes: string): string {
  return createHash("sha256").update(Buffer.from(bytes, "base64")).digest("base64url");
}

// Built once: making a zod schema costs far more than using it.
const TransactionEnvelopeSchema = z.strictObject({ header: TransactionHeaderSchema, payload: z.record(z.string(), z.unknown()) });

export type DecodeResult = { ok: true; transaction: RegistryTransaction } | { ok: false; error: string };

/** Parses and validates a transaction's bytes as the registry does; never throws. */
export function decodeTransaction(bytes: string): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes, "base64").toString("utf8"));
  } catch {
    return { ok: false, error: "bytes are not base64 of JSON" };
  }
  const envelope = TransactionEnvelopeSchema.safeParse(parsed);
  if (!envelope.success) return { ok: false, error: `invalid transaction: ${envelope.error.issues[0]?.message ?? "malformed"}` };
  const payload = PAYLOAD_SCHEMAS[envelope.data.header.type].safeParse(envelope.data.payload);
  if (!payload.success) {
    return { ok: false, error: `invalid ${envelope.data.header.type} payload: ${payload.error.issues[0]?.message ?? "malformed"}` };
  }
  return { ok: true, transaction: { header: envelope.data.header, payload: payload.data as Record<string, unknown> } };
}

/** `POST /v1/transactions` body. */
export const SubmitTransactionsSchema = z.strictObject({
  transactions: z.array(z.strictObject({ bytes: z.string().min(1) })).min(1).max(MAX_TRANSACTIONS_PER_REQUEST),
});
export type SubmitTransactions = z.infer<typeof SubmitTransactionsSchema>;

/** `GET /v1/transactions/{txId}/status` answer. */
export const TransactionStatusSchema = z.object({ status: z.enum(REGISTRY_STATUSES), message: z.string().optional() });
export type TransactionStatus = z.infer<typeof TransactionStatusSchema>;

/** `GET /v1/certificates/{id}/transactions` answer: the certificate's committed transactions in order. */
export const CertificateTransactionsSchema = z.object({
  transactions: z.array(z.object({ txId: z.string(), index: z.number().int().min(0), bytes: z.string() })),
});
export type CertificateTransactions = z.infer<typeof CertificateTransactionsSchema>;
