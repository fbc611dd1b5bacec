import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { bearer, json, problems } from "../../core/http/openapi.js";

const BucketShape = { count: z.number().int(), quantityWh: z.number().int(), mwh: z.number() };

export const StatisticsSchema = z
  .object({
    certificates: z.object({
      ...BucketShape,
      byKind: z.array(z.object({ kind: z.string(), ...BucketShape })),
      byStatus: z.array(z.object({ status: z.string(), ...BucketShape })),
      byEnergySource: z.array(z.object({ energySource: z.string(), ...BucketShape })),
    }).openapi({ description: "A converted annual certificate (cancelled) and its hourly certificates hold the same energy: totals count both" }),
    conversions: z.object({
      count: z.number().int(),
      byStatus: z.object({ queued: z.number().int(), running: z.number().int(), persisted: z.number().int(), done: z.number().int(), failed: z.number().int() }),
      successRate: z.number().nullable().openapi({ description: "done / (done + failed); null before any finished" }),
      meanDurationMs: z.number().int().nullable().openapi({ description: "Mean start-to-done time of done conversions" }),
    }),
    trades: z.object({
      count: z.number().int(),
      certificates: z.number().int(),
      quantityWh: z.number().int(),
      mwh: z.number(),
      pricedCount: z.number().int(),
      meanPricePerMwh: z.number().nullable().openapi({ description: "Volume-weighted over priced trades" }),
      meanTradePricePerMwh: z.number().nullable().openapi({ description: "Plain mean of the priced trades' prices" }),
    }),
    generatedAt: z.string(),
  })
  .openapi("Statistics");

export const statisticsRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/statistics",
  tags: ["statistics"],
  summary: "Registry statistics: certificates, conversions, trades",
  description: "Admin or producer token.",
  security: bearer,
  responses: { 200: json(StatisticsSchema, "The figures"), ...problems() },
});
