import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import { subscriptionHandlers } from "./handlers.js";
import {
  createSubscriptionRoute,
  deleteSubscriptionRoute,
  getSubscriptionRoute,
  listSubscriptionsRoute,
  rotateTokenRoute,
  updateSubscriptionRoute,
} from "./routes.js";
import type { Subscriptions } from "./subscriptions.js";

export function subscriptionsRouter(subscriptions: Subscriptions): App {
  const handlers = subscriptionHandlers(subscriptions);
  const router = createRouter();
  router.openapi(createSubscriptionRoute, handlers.create);
  router.openapi(listSubscriptionsRoute, handlers.list);
  router.openapi(getSubscriptionRoute, handlers.get);
  router.openapi(updateSubscriptionRoute, handlers.update);
  router.openapi(deleteSubscriptionRoute, handlers.remove);
  router.openapi(rotateTokenRoute, handlers.rotateToken);
  return router;
}
