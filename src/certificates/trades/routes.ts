import { createRoute, z } from "@hono/zod-openapi";
import { identifier } from "../../core/notifications/certificate.js";
import { PageQuerySchema, bearer, json, jsonBody, problems } from "../../core/http/openapi.js";
import { CertificateIdParamSchema } from "../book/routes.js";

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
  })
  .openapi("Trade");

const TradedCertificateSchema = z.object({
  certificateId: z.string(),
  quantityWh: z.number().int(),
  previousOwner: z.string(),
  version: z.number().int().openapi({ description: "The certificate's version after the transfer" }),
});

export const createTradeRoute = createRoute({
  method: "post",
  path: "/v1/trades",
  tags: ["trades"],
  summary: "Move certificates from a seller to a buyer, all or none",
  description:
    "Admin or producer token. Every certificate must exist (else 404), be active and settled, and belong to the seller (else 409); then all move " +
    "to the buyer and each gets `certificate.transferred`. Of concurrent trades of the same certificate exactly one wins; the others get 409. " +
    "The same `id` again answers 200 with the first trade.",
  security: bearer,
  request: {
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
    201: json(TradeSchema.extend({ certificates: z.array(TradedCertificateSchema) }), "Executed"),
    200: json(TradeSchema.extend({ certificates: z.array(TradedCertificateSchema) }), "Executed before under the same id"),
    ...problems(404, 409),
  },
});

export const listTradesRoute = createRoute({
  method: "get",
  path: "/v1/trades",
  tags: ["trades"],
  summary: "List trades, oldest first",
  security: bearer,
  request: {
    query: PageQuerySchema.extend({
      owner: identifier("owner").optional().openapi({ description: "Trades where this owner sold or bought" }),
      certificateId: identifier("certificateId").optional().openapi({ description: "Trades that moved this certificate" }),
    }),
  },
  responses: { 200: json(z.object({ data: z.array(TradeSchema), nextCursor: z.string().nullable() }), "A page of trades"), ...problems() },
});

export const getTradeRoute = createRoute({
  method: "get",
  path: "/v1/trades/{id}",
  tags: ["trades"],
  summary: "A trade with the certificates it moved",
  security: bearer,
  request: { params: z.object({ id: z.uuid({ error: "expected a trade id (UUID)" }).openapi({ param: { name: "id", in: "path" } }) }) },
  responses: { 200: json(TradeSchema.extend({ certificates: z.array(TradedCertificateSchema) }), "The trade"), ...problems(404) },
});

export const certificateTradesRoute = createRoute({
  method: "get",
  path: "/v1/certificates/{id}/trades",
  tags: ["trades"],
  summary: "A certificate's trade history, oldest first",
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
