import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { Principal } from "../../core/auth/principal.js";
import { requirePrincipal } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import { decodeCursor, pageOf } from "../../core/http/openapi.js";
import type { CertificateBook } from "./registry.js";
import type { CertificateRecord } from "./registry-store.js";
import type {
  cancelCertificateRoute,
  getCertificateRoute,
  listCertificatesRoute,
  registerAnnualRoute,
  validateCertificateRoute,
} from "./registry-routes.js";

/** Who asked: a producer by its name, or the admin. */
export const actorName = (principal: Principal) => (principal.kind === "admin" ? "admin" : principal.name);

export const presentCertificate = (record: CertificateRecord) => ({
  ...record.state,
  hour: record.hour,
  conversionId: record.conversionId,
  convertedAt: record.convertedAt?.toISOString() ?? null,
  settled: record.settled,
  registeredBy: record.registeredBy,
  createdAt: record.createdAt.toISOString(),
  updatedAt: record.updatedAt.toISOString(),
});

export function registryHandlers(registry: CertificateBook) {
  const registerAnnual: RouteHandler<typeof registerAnnualRoute, AppEnv> = async (c) => {
    const principal = requirePrincipal(c, "admin", "producer");
    const { created, certificate } = await registry.registerAnnual(c.req.valid("json"), actorName(principal));
    if (created) c.get("logger").info({ certificateId: certificate.state.certificateId }, "annual certificate registered");
    return c.json(presentCertificate(certificate), created ? 201 : 200);
  };

  const cancel: RouteHandler<typeof cancelCertificateRoute, AppEnv> = async (c) => {
    requirePrincipal(c, "admin", "producer");
    const { id } = c.req.valid("param");
    const body = c.req.valid("json") as { reason?: string } | undefined;
    const certificate = await registry.cancel(id, body?.reason);
    c.get("logger").info({ certificateId: id, version: certificate.state.version }, "certificate cancelled");
    return c.json(presentCertificate(certificate), 200);
  };

  const get: RouteHandler<typeof getCertificateRoute, AppEnv> = async (c) => {
    requirePrincipal(c, "admin", "producer");
    return c.json(presentCertificate(await registry.get(c.req.valid("param").id)), 200);
  };

  const list: RouteHandler<typeof listCertificatesRoute, AppEnv> = async (c) => {
    requirePrincipal(c, "admin", "producer");
    const { limit, cursor, periodFrom, periodTo, ...filter } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ id: z.string() }));
    const page = await registry.list(
      { ...filter, periodFrom: periodFrom ? new Date(periodFrom) : undefined, periodTo: periodTo ? new Date(periodTo) : undefined },
      limit + 1,
      after?.id,
    );
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ id: last.state.certificateId }));
    return c.json({ data: items.map(presentCertificate), nextCursor }, 200);
  };

  const validate: RouteHandler<typeof validateCertificateRoute, AppEnv> = async (c) => {
    requirePrincipal(c, "admin", "producer");
    return c.json(await registry.validate(c.req.valid("param").id), 200);
  };

  return { registerAnnual, cancel, get, list, validate };
}
