import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { CERTIFICATE_KINDS, CERTIFICATE_STATUSES, identifier, utcTimestamp, wattHours } from "../../core/notifications/certificate.js";
import { PageQuerySchema, bearer, json, jsonBody, problems } from "../../core/http/openapi.js";
import { CommandSchema, PreferHeaderSchema } from "../commands/routes.js";
import { MAX_ANNUAL_ID_LENGTH } from "./ids.js";
import { CertificateIdParamSchema } from "./routes.js";

export const RegistryCertificateSchema = z
  .object({
    certificateId: z.string(),
    kind: z.enum(CERTIFICATE_KINDS),
    deviceId: z.string(),
    gridArea: z.string(),
    energySource: z.string(),
    periodStart: z.string(),
    periodEnd: z.string(),
    quantityWh: z.number().int().openapi({ description: "Whole watt-hours" }),
    owner: z.string(),
    status: z.enum(CERTIFICATE_STATUSES),
    parentCertificateId: z.string().optional().openapi({ description: "Hourly certificates: the annual certificate they came from" }),
    version: z.number().int().openapi({ description: "Bumped by every change; each change is one notification" }),
    hour: z.number().int().nullable().openapi({ description: "Hourly certificates: hour of the year, from 0" }),
    conversionId: z.string().nullable().openapi({ description: "Annual: the conversion that converted it; hourly: the one that issued it" }),
    convertedAt: z.string().nullable().openapi({ description: "Annual: when its conversion finished" }),
    settled: z.boolean().openapi({ description: "False while the conversion that issued an hourly certificate is still publishing; it cannot change until then" }),
    registeredBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("RegistryCertificate");

export const registerAnnualRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "post",
  path: "/v1/certificates/annual",
  tags: ["certificates"],
  summary: "Register an annual certificate",
  description:
    "Admin or producer token. An `issue` command to the registry: 202 with the command; once the registry committed it the book has an active annual certificate " +
    "for one UTC calendar year and `certificate.issued` is published. `Prefer: wait=N` answers 201 once committed. " +
    "The same registration while its command runs answers 202 with that command; once registered, 200 with the certificate; the same `id` with other values 409.",
  security: bearer,
  request: {
    headers: PreferHeaderSchema,
    body: jsonBody(
      z.strictObject({
        id: identifier("id").optional().openapi({ description: `Certificate id (at most ${MAX_ANNUAL_ID_LENGTH} characters); a UUIDv7 when absent` }),
        deviceId: identifier("deviceId"),
        gridArea: identifier("gridArea"),
        energySource: identifier("energySource"),
        year: z.number({ error: "expected a year" }).int({ error: "must be a whole year" }).min(2000, { error: "must be 2000 or later" }).max(2100, { error: "must be 2100 or earlier" }),
        quantityWh: wattHours.min(1, { error: "must be at least 1 Wh" }),
        owner: identifier("owner"),
      }),
    ),
  },
  responses: {
    202: json(CommandSchema, "Accepted: the issue command"),
    201: json(CommandSchema, "Committed (with Prefer: wait)"),
    200: json(RegistryCertificateSchema, "Registered before with the same values"),
    ...problems(409, 422),
  },
});

export const cancelCertificateRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "post",
  path: "/v1/certificates/{id}/cancel",
  tags: ["certificates"],
  summary: "Cancel an active certificate",
  description:
    "Admin or producer token. A `cancel` command to the registry; once committed the certificate is cancelled and `certificate.cancelled` published. " +
    "Only an active certificate can be cancelled (else 409); a cancelled annual certificate can then be converted.",
  security: bearer,
  request: {
    params: CertificateIdParamSchema,
    headers: PreferHeaderSchema,
    body: { required: false, content: { "application/json": { schema: z.strictObject({ reason: z.string().max(500).optional() }) } } },
  },
  responses: { 202: json(CommandSchema, "Accepted: the cancel command"), 201: json(CommandSchema, "Committed (with Prefer: wait)"), ...problems(404, 409, 422) },
});

export const getCertificateRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/certificates/{id}",
  tags: ["certificates"],
  summary: "A certificate in the registry",
  description:
    "Admin or producer token. The registry's own record of the certificate, at its current version.",
  security: bearer,
  request: { params: CertificateIdParamSchema },
  responses: { 200: json(RegistryCertificateSchema, "The certificate"), ...problems(404) },
});

export const listCertificatesRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/certificates",
  tags: ["certificates"],
  summary: "List certificates, filtered, by id",
  description: "Filters are AND-ed. `periodFrom`/`periodTo` keep certificates whose period overlaps [periodFrom, periodTo).",
  security: bearer,
  request: {
    query: PageQuerySchema.extend({
      kind: z.enum(CERTIFICATE_KINDS).optional(),
      owner: identifier("owner").optional(),
      status: z.enum(CERTIFICATE_STATUSES).optional(),
      energySource: identifier("energySource").optional(),
      gridArea: identifier("gridArea").optional(),
      deviceId: identifier("deviceId").optional(),
      parentCertificateId: identifier("parentCertificateId").optional(),
      periodFrom: utcTimestamp.optional().openapi({ description: "RFC 3339; periods ending after it" }),
      periodTo: utcTimestamp.optional().openapi({ description: "RFC 3339; periods starting before it" }),
    }),
  },
  responses: {
    200: json(z.object({ data: z.array(RegistryCertificateSchema), nextCursor: z.string().nullable() }), "A page of certificates"),
    ...problems(),
  },
});

const ValidationCheckSchema = z.object({
  name: z.enum(["exactTotal", "hourCount", "year", "source", "parent", "noDuplicateHours", "uniqueIds", "status"]),
  result: z.enum(["passed", "failed", "skipped"]),
  detail: z.string(),
});

export const ValidationReportSchema = z
  .object({
    certificateId: z.string(),
    kind: z.enum(CERTIFICATE_KINDS),
    valid: z.boolean().openapi({ description: "True when no check failed" }),
    checkedAt: z.string(),
    checks: z.array(ValidationCheckSchema),
  })
  .openapi("ValidationReport");

export const validateCertificateRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/certificates/{id}/validation",
  tags: ["certificates"],
  summary: "Check a certificate and its conversion",
  description:
    "Each check is named with its result: exact total (hours sum to the annual quantity), hour count, year, source and parent consistency, no duplicate hours, unique ids, status rules.",
  security: bearer,
  request: { params: CertificateIdParamSchema },
  responses: { 200: json(ValidationReportSchema, "The checks"), ...problems(404) },
});
