import { createRoute, z } from "@hono/zod-openapi";
import { bearer, json, jsonBody, problems } from "../core/http/openapi.js";
import {
  CertificateTransactionsSchema,
  SubmitTransactionsSchema,
  TransactionStatusSchema,
} from "../core/registry/wire.js";
import { FaultsPatchSchema, FaultsSchema } from "../core/registry/faults.js";
import { REGISTRY_CERTIFICATE_STATUSES } from "../core/registry/truth.js";

const id = z.string().min(1).max(200);
const TxIdParamSchema = z.object({ txId: id.openapi({ param: { name: "txId", in: "path" } }) });
const CertificateParamSchema = z.object({ id: id.openapi({ param: { name: "id", in: "path" } }) });

// The wire (DESIGN.md §8): what a registry offers.

export const submitTransactionsRoute = createRoute({
  method: "post",
  path: "/v1/transactions",
  tags: ["registry wire"],
  summary: "Submit up to 1,000 transactions",
  description: "202 `{}` and nothing per item: ask each transaction's status by its id, `base64url(sha256(bytes))`.",
  security: bearer,
  request: { body: jsonBody(SubmitTransactionsSchema) },
  responses: { 202: json(z.strictObject({}), "Received"), ...problems(503) },
});

export const transactionStatusRoute = createRoute({
  method: "get",
  path: "/v1/transactions/{txId}/status",
  tags: ["registry wire"],
  summary: "A transaction's status",
  security: bearer,
  request: { params: TxIdParamSchema },
  responses: { 200: json(TransactionStatusSchema, "unknown, pending, committed, finalized or failed"), ...problems(503) },
});

export const certificateTransactionsRoute = createRoute({
  method: "get",
  path: "/v1/certificates/{id}/transactions",
  tags: ["registry wire"],
  summary: "A certificate's committed transactions, in order (501 unless streamReads is on)",
  security: bearer,
  request: { params: CertificateParamSchema },
  responses: { 200: json(CertificateTransactionsSchema, "The stream"), ...problems(501) },
});

// The emulator's control API (admin token): faults, the receipt log, the truth, out-of-band changes.

export const getFaultsRoute = createRoute({
  method: "get",
  path: "/_emulator/faults",
  tags: ["registry emulator"],
  summary: "The fault knobs now",
  security: bearer,
  responses: { 200: json(FaultsSchema, "Faults") },
});

export const putFaultsRoute = createRoute({
  method: "put",
  path: "/_emulator/faults",
  tags: ["registry emulator"],
  summary: "Change fault knobs; the ones left out keep their value",
  security: bearer,
  request: { body: jsonBody(FaultsPatchSchema) },
  responses: { 200: json(FaultsSchema, "Faults after the change") },
});

const ReceiptsQuerySchema = z.object({
  certificateId: id.optional(),
  commandId: id.optional(),
  txId: id.optional(),
  outcome: z.enum(["pending", "committed", "failed", "duplicate"]).optional(),
});

const ReceiptSchema = z.object({
  seq: z.number().int(),
  txId: z.string(),
  commandId: z.string(),
  certificateId: z.string(),
  type: z.string(),
  receivedAt: z.string(),
  outcome: z.enum(["pending", "committed", "failed", "duplicate"]),
  message: z.string().optional(),
  processedAt: z.string().optional(),
});

export const listReceiptsRoute = createRoute({
  method: "get",
  path: "/_emulator/receipts",
  tags: ["registry emulator"],
  summary: "Every received transaction in order of arrival",
  security: bearer,
  request: { query: ReceiptsQuerySchema },
  responses: { 200: json(z.object({ receipts: z.array(ReceiptSchema) }), "Receipts") },
});

const StatsSchema = z.object({
  certificates: z.number().int(),
  received: z.number().int(),
  pending: z.number().int(),
  committed: z.number().int(),
  failed: z.number().int(),
  duplicate: z.number().int(),
});

export const statsRoute = createRoute({
  method: "get",
  path: "/_emulator/stats",
  tags: ["registry emulator"],
  summary: "Counts of certificates and receipts by outcome",
  security: bearer,
  responses: { 200: json(StatsSchema, "Counts") },
});

const RegistryCertificateSchema = z.object({
  certificateId: z.string(),
  owner: z.string(),
  quantityWh: z.number().int(),
  status: z.enum(REGISTRY_CERTIFICATE_STATUSES),
  version: z.number().int(),
  attributes: z.record(z.string(), z.unknown()),
  slicedFrom: z.string().optional(),
  beneficiary: z.string().optional(),
  withdrawReason: z.string().optional(),
});

export const getCertificateRoute = createRoute({
  method: "get",
  path: "/_emulator/certificates/{id}",
  tags: ["registry emulator"],
  summary: "The emulator's truth about a certificate, with its stream",
  security: bearer,
  request: { params: CertificateParamSchema },
  responses: {
    200: json(RegistryCertificateSchema.extend({ transactions: CertificateTransactionsSchema.shape.transactions }), "The certificate"),
    ...problems(404),
  },
});

const OutOfBandSchema = z
  .strictObject({
    certificateId: id,
    owner: id.optional(),
    status: z.enum(REGISTRY_CERTIFICATE_STATUSES).optional(),
    quantityWh: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .refine((change) => change.owner !== undefined || change.status !== undefined || change.quantityWh !== undefined, {
    error: "name at least one of owner, status, quantityWh",
  });

export const outOfBandRoute = createRoute({
  method: "post",
  path: "/_emulator/out-of-band",
  tags: ["registry emulator"],
  summary: "Change a certificate directly, as another party would",
  security: bearer,
  request: { body: jsonBody(OutOfBandSchema) },
  responses: { 200: json(RegistryCertificateSchema, "The certificate after the change"), ...problems(404) },
});

export const resetRoute = createRoute({
  method: "post",
  path: "/_emulator/reset",
  tags: ["registry emulator"],
  summary: "Forget everything and restore the faults given at start",
  security: bearer,
  responses: { 204: { description: "A fresh registry" } },
});
