import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import { subscriptionHandlers } from "./handlers.js";
import type { PushStore } from "../messages/push/push-store.js";
import {
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
import type { Subscriptions } from "./subscriptions.js";

export function subscriptionsRouter(subscriptions: Subscriptions, pushStore: PushStore): App {
  const handlers = subscriptionHandlers(subscriptions, pushStore);
  const router = createRouter();
  router.openapi(createSubscriptionRoute, handlers.create);
  router.openapi(listSubscriptionsRoute, handlers.list);
  router.openapi(getSubscriptionRoute, handlers.get);
  router.openapi(updateSubscriptionRoute, handlers.update);
  router.openapi(deleteSubscriptionRoute, handlers.remove);
  router.openapi(resumeSubscriptionRoute, handlers.resume);
  router.openapi(rewindSubscriptionRoute, handlers.rewind);
  router.openapi(positionRoute, handlers.position);
  router.openapi(rotateTokenRoute, handlers.rotateToken);
  router.openapi(rotateSecretRoute, handlers.rotateSecret);
  router.openapi(listAttemptsRoute, handlers.listAttempts);
  return router;
}
