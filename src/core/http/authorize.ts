import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { AppError } from "../errors.js";
import type { Principal, PrincipalKind } from "../auth/principal.js";
import type { AppEnv } from "./env.js";

const NEEDS: Record<PrincipalKind, string> = {
  admin: "the admin token",
  producer: "a producer token",
  subscription: "the subscription's own token",
};

export function requirePrincipal<K extends PrincipalKind>(
  c: Context<AppEnv>,
  ...kinds: K[]
): Extract<Principal, { kind: K }> {
  const principal = c.get("principal");
  if (!kinds.includes(principal.kind as K)) {
    throw new AppError("forbidden", `this endpoint needs ${kinds.map((kind) => NEEDS[kind]).join(" or ")}`);
  }
  return principal as Extract<Principal, { kind: K }>;
}

/** The admin, or the subscription named in the path using its own token. */
export function requireSubscriptionAccess(c: Context<AppEnv>, name: string): Principal {
  const principal = requirePrincipal(c, "admin", "subscription");
  if (principal.kind === "subscription" && principal.name !== name) {
    throw new AppError("forbidden", "a subscription token reaches only its own subscription");
  }
  return principal;
}

/**
 * Who may call an operation: the admin, a producer, and/or `subscription` — the subscription
 * named by the `{name}` path parameter, with its own token.
 */
export type Access = readonly PrincipalKind[];

/**
 * A route whose credential is checked before anything else about the request: the check is
 * the route's first middleware, so it runs before zod-openapi validates the parameters, query
 * and body. A caller without access learns nothing about what a valid request would be.
 */
export function authorizedRoute<P extends string, R extends Omit<RouteConfig, "path" | "middleware"> & { path: P; access: Access }>(
  config: R,
) {
  const { access, ...route } = config;
  return createRoute({ ...route, middleware: [enforceAccess(access)] as MiddlewareHandler[] });
}

function enforceAccess(access: Access): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = requirePrincipal(c, ...access);
    if (principal.kind === "subscription" && principal.name !== c.req.param("name")) {
      throw new AppError("forbidden", "a subscription token reaches only its own subscription");
    }
    await next();
  };
}
