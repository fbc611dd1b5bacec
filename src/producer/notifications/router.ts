import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import { notificationHandlers } from "./handlers.js";
import type { PublishNotifications } from "./publish-notifications.js";
import { publishBatchRoute, publishRoute } from "./routes.js";

export function notificationsRouter(publish: PublishNotifications): App {
  const handlers = notificationHandlers(publish);
  const router = createRouter();
  router.openapi(publishRoute, handlers.publishOne);
  router.openapi(publishBatchRoute, handlers.publishBatch);
  return router;
}
