import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { identifier } from "../../core/notifications/certificate.js";
import { bearer, json, problems } from "../../core/http/openapi.js";
import { ValidationReportSchema } from "../book/registry-routes.js";
import { ENERGY_UNITS } from "./csv-profile.js";

const MAX_HOURS = 8784;

export const ConversionBodySchema = z
  .strictObject({
    id: z.uuid({ error: "expected a UUID" }).optional().openapi({ description: "Idempotency key; the same id for the same certificate answers with the same conversion" }),
    annualCertificateId: identifier("annualCertificateId"),
    profile: z.discriminatedUnion(
      "kind",
      [
        z.strictObject({ kind: z.literal("uniform") }),
        z.strictObject({
          kind: z.literal("hourly"),
          valuesWh: z
            .array(z.number({ error: "expected a number of Wh" }))
            .max(MAX_HOURS, { error: `send at most ${MAX_HOURS} values, one per UTC hour of the year` })
            .openapi({ description: "One whole-Wh value per UTC hour of the certificate's year (8,760, or 8,784 in a leap year); only the proportions matter" }),
        }),
      ],
      { error: 'expected {kind: "uniform"} or {kind: "hourly", valuesWh: [...]}' },
    ),
  })
  .openapi("ConversionRequest");

export const CsvQuerySchema = z.object({
  annualCertificateId: identifier("annualCertificateId").optional(),
  unit: z.enum(ENERGY_UNITS, { error: "expected Wh, kWh or MWh" }).optional(),
  id: z.uuid({ error: "expected a UUID" }).optional(),
});

export const createConversionRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "post",
  path: "/v1/conversions",
  tags: ["conversions"],
  summary: "Convert a cancelled annual certificate into hourly certificates",
  description: [
    "Admin or producer token. Answers 202 at once; the conversion runs on the worker pool (poll `GET /v1/conversions/{id}`).",
    "The annual quantity is split over the UTC hours of its year (8,760, or 8,784 in a leap year) in proportion to the profile,",
    "in whole Wh by largest remainder, so the hours sum to the annual quantity exactly.",
    "",
    "Two ways to send the profile:",
    '- JSON: `{annualCertificateId, profile: {kind: "uniform"} | {kind: "hourly", valuesWh: [...]}}`.',
    "- CSV: `Content-Type: text/csv` with `?annualCertificateId=...` (and optionally `&unit=kWh`, `&id=<uuid>`); rows `timestamp,value`",
    "  (RFC 3339 with an offset, one per UTC hour, any order), a header optional. The unit is Wh, kWh (up to 3 decimals) or MWh",
    "  (up to 6 decimals), named by a `unit` column, by the value column's name (`kWh`, `value_kwh`, ...) or by the `unit` parameter; Wh when none does.",
    "",
    "A profile of all zeros, negative values, the wrong number of hours, gaps or repeated timestamps is refused with 400, naming each row",
    "(`row N` is line N of the file, header included; `profile.valuesWh.N` is hour N). Only a cancelled annual certificate converts (else 409), and only once (409).",
  ].join("\n"),
  security: bearer,
  request: {
    // Checked by CsvQuerySchema in the handler, after the upload is read: answering before the
    // body is consumed would leave the client's keep-alive connection unusable.
    query: z.object({
      annualCertificateId: z.string().optional().openapi({ description: "CSV uploads: the certificate to convert" }),
      unit: z.string().optional().openapi({ description: "CSV uploads: the unit of the values", enum: [...ENERGY_UNITS] }),
      id: z.string().optional().openapi({ description: "CSV uploads: idempotency key (UUID)" }),
    }),
    body: {
      required: false,
      content: {
        "application/json": { schema: ConversionBodySchema },
        "text/csv": {
          schema: z.string().openapi({ example: "timestamp,value,unit\n2025-01-01T00:00:00Z,1.250,kWh\n2025-01-01T01:00:00Z,1.5,kWh\n" }),
        },
      },
    },
  },
  responses: {
    202: json(
      z.object({
        conversionId: z.string(),
        status: z.enum(["queued", "running", "persisted", "done", "failed"]),
        duplicate: z.boolean().openapi({ description: "True when this id was accepted before" }),
      }),
      "Accepted; poll GET /v1/conversions/{id}",
    ),
    ...problems(404, 409, 415, 422, 503),
  },
});

export const ConversionSchema = z
  .object({
    id: z.string(),
    annualCertificateId: z.string(),
    status: z.enum(["queued", "running", "persisted", "done", "failed"]).openapi({
      description: "queued -> running (apportioning) -> persisted (hourly certificates written, notifications being published) -> done; failed only before anything was written",
    }),
    profile: z.object({ kind: z.enum(["uniform", "hourly", "csv"]), unit: z.string().nullable() }),
    progress: z.object({
      step: z.enum(["queued", "apportioning", "publishing", "done", "failed"]),
      percent: z.number().int(),
      hoursPersisted: z.number().int(),
      hoursPublished: z.number().int(),
    }),
    counts: z.object({
      hours: z.number().int().openapi({ description: "UTC hours in the certificate's year" }),
      hourlyCertificates: z.number().int(),
      notificationsPublished: z.number().int().openapi({ description: "certificate.issued published so far" }),
      quantityWh: z.number().int().openapi({ description: "The annual quantity being split" }),
      attempts: z.number().int(),
    }),
    durationMs: z.number().int().nullable().openapi({ description: "From start to done (or until now while it runs)" }),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    persistedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    error: z.string().nullable(),
    validation: z
      .object({ valid: z.boolean(), checks: ValidationReportSchema.shape.checks })
      .nullable()
      .openapi({ description: "Checked when the conversion finished" }),
  })
  .openapi("Conversion");

export const getConversionRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/conversions/{id}",
  tags: ["conversions"],
  summary: "A conversion: status, progress, counts, duration and validation",
  description:
    "Admin or producer token. Poll it while `status` is queued or running; `progress` counts the hours persisted.",
  security: bearer,
  request: { params: z.object({ id: z.uuid({ error: "expected a conversion id (UUID)" }).openapi({ param: { name: "id", in: "path" } }) }) },
  responses: { 200: json(ConversionSchema, "The conversion"), ...problems(404) },
});
