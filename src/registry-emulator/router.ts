import type { MiddlewareHandler } from "hono";
import { constantTimeEqual } from "../core/auth/tokens.js";
import { AppError } from "../core/errors.js";
import { bearerToken, createRouter } from "../core/http/app.js";
import type { App, AppEnv } from "../core/http/env.js";
import { problemResponse } from "../core/http/problem.js";
import { REGISTRY_RECEIVED_HEADER } from "../core/registry/wire.js";
import type { RegistryEmulator } from "../core/registry/emulator.js";
import { controlHandlers, resetConnection, wireHandlers } from "./handlers.js";
import {
  certificateTransactionsRoute,
  getCertificateRoute,
  getFaultsRoute,
  listReceiptsRoute,
  outOfBandRoute,
  putFaultsRoute,
  resetRoute,
  statsRoute,
  submitTransactionsRoute,
  transactionStatusRoute,
} from "./routes.js";

export interface EmulatorCredentials {
  /** Bearer token the wire endpoints require; unset: none. */
  token?: string;
  /** Bearer token of the control API (`/_emulator/*`). */
  adminToken: string;
}

/** The registry's wire endpoints (DESIGN.md §8); unavailability is decided before the credential and the body. */
export function wireRouter(emulator: RegistryEmulator, credentials: EmulatorCredentials): App {
  const handlers = wireHandlers(emulator);
  const router = createRouter();
  router.use("/v1/*", unavailability(emulator));
  if (credentials.token !== undefined) router.use("/v1/*", requireToken(credentials.token, "the registry token (CERTFLOW_REGISTRY_TOKEN)"));
  router.openapi(submitTransactionsRoute, handlers.submit);
  router.openapi(transactionStatusRoute, handlers.status);
  router.openapi(certificateTransactionsRoute, handlers.stream);
  return router;
}

/** The emulator's control API: faults, receipts, truth, out-of-band changes, reset. */
export function controlRouter(emulator: RegistryEmulator, credentials: EmulatorCredentials): App {
  const handlers = controlHandlers(emulator);
  const router = createRouter();
  router.use("/_emulator/*", requireToken(credentials.adminToken, "the admin token"));
  router.get("/healthz", (c) => c.json({ status: "ok" }));
  router.openapi(getFaultsRoute, handlers.getFaults);
  router.openapi(putFaultsRoute, handlers.putFaults);
  router.openapi(listReceiptsRoute, handlers.receipts);
  router.openapi(statsRoute, handlers.stats);
  router.openapi(getCertificateRoute, handlers.certificate);
  router.openapi(outOfBandRoute, handlers.outOfBand);
  router.openapi(resetRoute, handlers.reset);
  return router;
}

function unavailability(emulator: RegistryEmulator): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { unavailable } = emulator.faults;
    if (unavailable === "503") {
      c.header(REGISTRY_RECEIVED_HEADER, "false");
      c.header("retry-after", "1");
      return problemResponse(c, new AppError("unavailable", "the registry is unavailable; the request was not received"));
    }
    // A request on a connection opened before the listener closed: reset it, as a registry going down does.
    if (unavailable === "refuse") {
      resetConnection(c);
      return c.body(null, 503);
    }
    await next();
  };
}

function requireToken(expected: string, what: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!constantTimeEqual(bearerToken(c), expected)) throw new AppError("unauthorized", `the token is not ${what}`);
    await next();
  };
}
