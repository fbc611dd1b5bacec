import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import type { Subscriptions } from "../subscriptions/subscriptions.js";
import { messageHandlers } from "./handlers.js";
import type { Messages } from "./messages.js";
import { registerWebhooks } from "./push/webhook-document.js";
import { ackRoute, deadLettersRoute, nackRoute, pullRoute, pullWithAcksRoute, redriveRoute, rejectRoute } from "./routes.js";

export function messagesRouter(subscriptions: Subscriptions, messages: Messages): App {
  const handlers = messageHandlers(subscriptions, messages);
  const router = createRouter();
  router.openapi(pullRoute, handlers.pull);
  router.openapi(pullWithAcksRoute, handlers.pullWithAcks);
  router.openapi(ackRoute, handlers.ack);
  router.openapi(nackRoute, handlers.nack);
  router.openapi(rejectRoute, handlers.reject);
  router.openapi(deadLettersRoute, handlers.deadLetters);
  router.openapi(redriveRoute, handlers.redrive);
  registerWebhooks(router);
  return router;
}
