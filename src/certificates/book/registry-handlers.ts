import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { Principal } from "../../core/auth/principal.js";
import type { AppEnv } from "../../core/http/env.js";
import { decodeCursor, pageOf } from "../../core/http/openapi.js";
import { answerCommand, commandOptions } from "../commands/handlers.js";
import type { Commands } from "../commands/commands.js";
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

export function registryHandlers(registry: CertificateBook, commands: Commands) {
  const registerAnnual: RouteHandler<typeof registerAnnualRoute, AppEnv> = async (c) => {
    const { options, waitSeconds } = commandOptions(c);
    const registration = await commands.register(c.req.valid("json"), options);
    if (registration.kind === "registered") return c.json(presentCertificate(registration.certificate), 200);
    if (registration.created) c.get("logger").info({ certificateId: registration.command.certificateId, commandId: registration.command.id }, "annual certificate registration accepted");
    return answerCommand(c, commands, registration.command, waitSeconds) as never;
  };

  const cancel: RouteHandler<typeof cancelCertificateRoute, AppEnv> = async (c) => {
    const { options, waitSeconds } = commandOptions(c);
    const { id } = c.req.valid("param");
    const body = c.req.valid("json") as { reason?: string } | undefined;
    const command = await commands.cancel(id, body?.reason, options);
    c.get("logger").info({ certificateId: id, commandId: command.id }, "cancellation accepted");
    return answerCommand(c, commands, command, waitSeconds) as never;
  };

  const get: RouteHandler<typeof getCertificateRoute, AppEnv> = async (c) => {
    return c.json(presentCertificate(await registry.get(c.req.valid("param").id)), 200);
  };

  const list: RouteHandler<typeof listCertificatesRoute, AppEnv> = async (c) => {
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
    return c.json(await registry.validate(c.req.valid("param").id), 200);
  };

  return { registerAnnual, cancel, get, list, validate };
}
