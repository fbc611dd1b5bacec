import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import { AppError, validationError } from "../../core/errors.js";
import { requirePrincipal } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import { actorName } from "../book/registry-handlers.js";
import type { ValidationCheck } from "../book/validation.js";
import type { ConversionRecord } from "./conversion-store.js";
import type { ConversionRequest, Conversions } from "./conversions.js";
import { CsvQuerySchema, type ConversionBodySchema, type createConversionRoute, type getConversionRoute } from "./routes.js";

const iso = (date: Date | null) => date?.toISOString() ?? null;

const STEP = { queued: "queued", running: "apportioning", persisted: "publishing", done: "done", failed: "failed" } as const;

export function presentConversion(conversion: ConversionRecord) {
  const done = conversion.status === "done";
  const started = conversion.startedAt?.getTime();
  const ended = conversion.finishedAt?.getTime() ?? Date.now();
  return {
    id: conversion.id,
    annualCertificateId: conversion.annualCertificateId,
    status: conversion.status,
    profile: { kind: conversion.profileKind, unit: conversion.profileUnit },
    progress: {
      step: STEP[conversion.status],
      percent: done ? 100 : Math.floor((50 * (conversion.hoursPersisted + conversion.hoursPublished)) / conversion.hours),
      hoursPersisted: conversion.hoursPersisted,
      hoursPublished: conversion.hoursPublished,
    },
    counts: {
      hours: conversion.hours,
      hourlyCertificates: conversion.hoursPersisted,
      notificationsPublished: conversion.hoursPublished,
      quantityWh: conversion.quantityWh,
      attempts: conversion.attempts,
    },
    durationMs: started === undefined ? null : Math.max(0, ended - started),
    createdAt: conversion.createdAt.toISOString(),
    startedAt: iso(conversion.startedAt),
    persistedAt: iso(conversion.persistedAt),
    finishedAt: iso(conversion.finishedAt),
    error: conversion.error,
    validation: (conversion.validation as { valid: boolean; checks: ValidationCheck[] } | null) ?? null,
  };
}

export function conversionHandlers(conversions: Conversions) {
  const create: RouteHandler<typeof createConversionRoute, AppEnv> = async (c) => {
    const principal = requirePrincipal(c, "admin", "producer");
    const request = await readRequest(c.req.header("content-type"), c.req.valid("query"), () => c.req.text(), c.req.valid("json"));
    const { conversion, created } = await conversions.request(request, actorName(principal));
    if (created) {
      c.get("logger").info({ conversionId: conversion.id, annualCertificateId: conversion.annualCertificateId, profile: conversion.profileKind }, "conversion accepted");
    }
    c.header("location", `/v1/conversions/${conversion.id}`);
    return c.json({ conversionId: conversion.id, status: conversion.status, duplicate: !created }, 202);
  };

  const get: RouteHandler<typeof getConversionRoute, AppEnv> = async (c) => {
    return c.json(presentConversion(await conversions.get(c.req.valid("param").id)), 200);
  };

  return { create, get };
}

async function readRequest(
  contentType: string | undefined,
  rawQuery: Record<string, string | undefined>,
  text: () => Promise<string>,
  json: unknown,
): Promise<ConversionRequest> {
  if (contentType && /^text\/csv\b/i.test(contentType)) {
    const csv = await text();
    const query = CsvQuerySchema.safeParse(rawQuery);
    if (!query.success) throw validationError(query.error);
    if (!query.data.annualCertificateId) {
      throw new AppError("validation_failed", "annualCertificateId: name the certificate in the query string of a CSV upload", [
        { path: "annualCertificateId", message: "is required with a CSV upload" },
      ]);
    }
    return { id: query.data.id, annualCertificateId: query.data.annualCertificateId, profile: { kind: "csv", text: csv, unit: query.data.unit } };
  }
  const body = json as Partial<z.infer<typeof ConversionBodySchema>> | undefined;
  if (!body?.annualCertificateId || !body.profile) {
    throw new AppError("validation_failed", "(body): send JSON {annualCertificateId, profile} or a text/csv upload", [
      { path: "(body)", message: "send JSON {annualCertificateId, profile} or a text/csv upload" },
    ]);
  }
  return { id: body.id, annualCertificateId: body.annualCertificateId, profile: body.profile };
}
