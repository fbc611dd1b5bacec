import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { identifier } from "../../core/notifications/certificate.js";
import { PageQuerySchema, bearer, json, jsonBody, problems } from "../../core/http/openapi.js";
import { CertificateIdParamSchema } from "../book/routes.js";
import { PreferHeaderSchema } from "../commands/routes.js";

export const MAX_TRADE_CERTIFICATES = 10_000;

export const TradeSchema = z
  .object({
    id: z.string(),
    seller: z.string(),
    buyer: z.string(),
    pricePerMwh: z.number().nullable(),
    certificateCount: z.number().int(),
    quantityWh: z.number().int(),
    mwh: z.number(),
    totalPrice: z.number().nullable().openapi({ description: "pricePerMwh x MWh traded" }),
    requestedBy: z.string(),
    createdAt: z.string(),
    state: z.enum(["pending", "completed", "compensating", "failed"]),
    error: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .openapi("Trade");

const TradeCommandSchema = z.object({
  commandId: z.string(),
  certificateId: z.string(),
  role: z.enum(["forward", "compensation"]),
  state: z.string(),
  error: z.string().nullable(),
});

const TradedCertificateSchema = z.object({
  certificateId: z.string(),
  quantityWh: z.number().int(),
  previousOwner: z.string(),
  version: z.number().int().openapi({ description: "The certificate's version after the transfer" }),
});

const TradeViewSchema = TradeSchema.extend({
  certificates: z.array(TradedCertificateSchema).openapi({ description: "Certificates whose transfer committed" }),
  commands: z.array(TradeCommandSchema).openapi({ description: "Each certificate's transfer command, and any compensation" }),
});

export const createTradeRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "post",
  path: "/v1/trades",
  tags: ["trades"],
  summary: "Move certificates from a seller to a buyer, all or none (a saga over transfer commands)",
  description:
    "Admin or producer token. Every certificate must exist (else 404), be active and settled, have no command in flight and belong to the seller (else 409). " +
    "One transfer command per certificate goes to the registry; if any fails there, the ones that committed are transferred back and the trade ends `failed`, " +
    "else `completed`. 202 with the trade (`Location`); `Prefer: wait=N` answers 201 completed or 422 failed once it ended. " +
    "The same `id` again answers 200 with the first trade.",
  security: bearer,
  request: {
    headers: PreferHeaderSchema,
    body: jsonBody(
      z.strictObject({
        id: z.uuid({ error: "expected a UUID" }).optional().openapi({ description: "Idempotency key; a UUIDv7 when absent" }),
        seller: identifier("seller"),
        buyer: identifier("buyer"),
        certificateIds: z
          .array(identifier("certificateId"))
          .min(1, { error: "name at least one certificate" })
          .max(MAX_TRADE_CERTIFICATES, { error: `name at most ${MAX_TRADE_CERTIFICATES} certificates per trade` }),
        pricePerMwh: z.number({ error: "expected a number" }).min(0, { error: "must not be negative" }).max(1e9, { error: "is too large" }).optional(),
      }),
    ),
  },
  responses: {
    202: json(TradeViewSchema, "Accepted"),
    201: json(TradeViewSchema, "Completed (with Prefer: wait)"),
    200: json(TradeViewSchema, "Requested before under the same id"),
    ...problems(404, 409, 422),
  },
});

export const listTradesRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/trades",
  tags: ["trades"],
  summary: "List trades, oldest first",
  description:
    "Admin or producer token. `owner` keeps the trades it sold or bought.",
  security: bearer,
  request: {
    query: PageQuerySchema.extend({
      owner: identifier("owner").optional().openapi({ description: "Trades where this owner sold or bought" }),
      certificateId: identifier("certificateId").optional().openapi({ description: "Trades that moved this certificate" }),
    }),
  },
  responses: { 200: json(z.object({ data: z.array(TradeSchema), nextCursor: z.string().nullable() }), "A page of trades"), ...problems() },
});

export const getTradeRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/trades/{id}",
  tags: ["trades"],
  summary: "A trade: its state and each certificate's command",
  description:
    "Admin or producer token.",
  security: bearer,
  request: { params: z.object({ id: z.uuid({ error: "expected a trade id (UUID)" }).openapi({ param: { name: "id", in: "path" } }) }) },
  responses: { 200: json(TradeViewSchema, "The trade"), ...problems(404) },
});

export const certificateTradesRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/certificates/{id}/trades",
  tags: ["trades"],
  summary: "A certificate's trade history, oldest first",
  description:
    "Admin or producer token. Cursor-paginated.",
  security: bearer,
  request: { params: CertificateIdParamSchema, query: PageQuerySchema },
  responses: {
    200: json(
      z.object({
        certificateId: z.string(),
        data: z.array(TradedCertificateSchema.extend({ newOwner: z.string(), trade: TradeSchema })),
        nextCursor: z.string().nullable(),
      }),
      "The certificate's trades",
    ),
    ...problems(404),
  },
});
