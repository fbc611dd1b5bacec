import type { RouteHandler } from "@hono/zod-openapi";
import { conflict, forbidden, notFound } from "../../core/errors.js";
import { requireSubscriptionAccess } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import type { Broker } from "../../mom/broker.js";
import type { PrefillQueue } from "../snapshots/prefill-queue.js";
import type { SubscriptionLookup } from "./subscription-lookup.js";
import type { rerunPrefillRoute } from "./routes.js";

export function prefillHandlers(lookup: SubscriptionLookup, queue: PrefillQueue, broker: Broker) {
  const rerun: RouteHandler<typeof rerunPrefillRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    const principal = requireSubscriptionAccess(c, name);
    const subscription = await lookup.find(name);
    if (!subscription) throw notFound(`subscription ${name}`);
    if (principal.kind === "subscription" && principal.id !== subscription.id) {
      throw forbidden("a subscription token reaches only its own subscription");
    }
    if (!subscription.prefillEnabled) throw conflict(`subscription ${name} was created without prefill`);
    if (!(await queue.retry(subscription.id))) throw conflict(`the prefill of ${name} has not failed; only a failed prefill can be re-run`);
    broker.requestPrefill();
    c.get("logger").info({ subscription: name }, "prefill queued again");
    return c.json({ status: "pending" as const }, 202);
  };
  return { rerun };
}
