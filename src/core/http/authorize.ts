import type { Context } from "hono";
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
