import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { requirePrincipal, requireSubscriptionAccess } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import { decodeCursor, pageOf } from "../../core/http/openapi.js";
import type { PushStore } from "../messages/push/push-store.js";
import type { Subscription } from "./subscription.js";
import type { Subscriptions } from "./subscriptions.js";
import type {
  createSubscriptionRoute,
  deleteSubscriptionRoute,
  getSubscriptionRoute,
  listAttemptsRoute,
  listSubscriptionsRoute,
  positionRoute,
  resumeSubscriptionRoute,
  rewindSubscriptionRoute,
  rotateSecretRoute,
  rotateTokenRoute,
  updateSubscriptionRoute,
} from "./routes.js";

export function present(subscription: Subscription) {
  const { prefillState: prefill } = subscription;
  return {
    id: subscription.id,
    name: subscription.name,
    description: subscription.description,
    filters: subscription.filters,
    delivery: subscription.delivery,
    status: subscription.status,
    statusReason: subscription.statusReason,
    ackTimeoutSeconds: subscription.ackTimeoutSeconds,
    maxDeliveries: subscription.maxDeliveries,
    slo: subscription.slo ?? null,
    prefill: { enabled: prefill.enabled, status: prefill.status, total: prefill.total, sent: prefill.sent, error: prefill.error },
    createdAt: subscription.createdAt.toISOString(),
    updatedAt: subscription.updatedAt.toISOString(),
  };
}

export function subscriptionHandlers(subscriptions: Subscriptions, pushStore: PushStore) {
  const create: RouteHandler<typeof createSubscriptionRoute, AppEnv> = async (c) => {
    const outcome = await subscriptions.create(c.req.valid("json"));
    if (!outcome.created) return c.json({ subscription: present(outcome.subscription) }, 200);
    c.get("logger").info({ subscription: outcome.subscription.name }, "subscription created");
    const secret = outcome.secret ? { secret: outcome.secret } : {};
    return c.json({ subscription: present(outcome.subscription), token: outcome.token, ...secret }, 201);
  };

  const list: RouteHandler<typeof listSubscriptionsRoute, AppEnv> = async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ name: z.string() }));
    const page = await subscriptions.list(limit + 1, after?.name);
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ name: last.name }));
    return c.json({ data: items.map(present), nextCursor }, 200);
  };

  const get: RouteHandler<typeof getSubscriptionRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    const { subscription, stats } = await subscriptions.describe(name, requireSubscriptionAccess(c, name));
    const slo = stats.slo && { ...stats.slo, laggingSince: stats.slo.laggingSince?.toISOString() ?? null };
    return c.json({ ...present(subscription), stats: { ...stats, oldestPendingAt: stats.oldestPendingAt?.toISOString() ?? null, slo } }, 200);
  };

  const update: RouteHandler<typeof updateSubscriptionRoute, AppEnv> = async (c) => {
    const principal = requirePrincipal(c, "admin");
    const updated = await subscriptions.update(c.req.valid("param").name, c.req.valid("json"), principal);
    c.get("logger").info({ subscription: updated.name }, "subscription updated");
    return c.json(present(updated), 200);
  };

  const remove: RouteHandler<typeof deleteSubscriptionRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    await subscriptions.delete(name, requireSubscriptionAccess(c, name));
    c.get("logger").info({ subscription: name }, "subscription deleted");
    return c.body(null, 204);
  };

  const resume: RouteHandler<typeof resumeSubscriptionRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    const resumed = await subscriptions.resume(name, requireSubscriptionAccess(c, name));
    c.get("logger").info({ subscription: name }, "subscription resumed");
    return c.json(present(resumed), 200);
  };

  const rewind: RouteHandler<typeof rewindSubscriptionRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    const principal = requireSubscriptionAccess(c, name);
    const result = await subscriptions.rewind(name, principal, c.req.valid("json"));
    c.get("logger").info({ subscription: name, ...result }, "subscription rewound");
    return c.json(result, 200);
  };

  const position: RouteHandler<typeof positionRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    return c.json(await subscriptions.position(name, requireSubscriptionAccess(c, name)), 200);
  };

  const rotateToken: RouteHandler<typeof rotateTokenRoute, AppEnv> = async (c) => {
    const principal = requirePrincipal(c, "admin");
    const token = await subscriptions.rotateToken(c.req.valid("param").name, principal);
    return c.json({ token }, 200);
  };

  const rotateSecret: RouteHandler<typeof rotateSecretRoute, AppEnv> = async (c) => {
    const principal = requirePrincipal(c, "admin");
    const { name } = c.req.valid("param");
    const { secret, previousValidUntil } = await subscriptions.rotateSecret(name, principal, c.req.valid("json").secret);
    c.get("logger").info({ subscription: name }, "push secret rotated");
    return c.json({ secret, previousValidUntil: previousValidUntil.toISOString() }, 200);
  };

  const listAttempts: RouteHandler<typeof listAttemptsRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    const { limit, cursor, status } = c.req.valid("query");
    const subscription = await subscriptions.access(name, requireSubscriptionAccess(c, name));
    const before = decodeCursor(cursor, z.object({ id: z.number().int() }));
    const page = await pushStore.attempts(subscription.id, status, limit + 1, before?.id);
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ id: last.id }));
    return c.json({ data: items.map((attempt) => ({ ...attempt, startedAt: attempt.startedAt.toISOString() })), nextCursor }, 200);
  };

  return { create, list, get, update, remove, resume, rewind, position, rotateToken, rotateSecret, listAttempts };
}
