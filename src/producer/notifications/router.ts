import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import { notificationHandlers } from "./handlers.js";
import type { InspectNotifications } from "./inspect-notifications.js";
import type { PublishNotifications } from "./publish-notifications.js";
import { getNotificationRoute, publishBatchRoute, publishRoute, traceRoute } from "./routes.js";

export function notificationsRouter(publish: PublishNotifications, inspect: InspectNotifications): App {
  const handlers = notificationHandlers(publish, inspect);
  const router = createRouter();
  router.openapi(publishRoute, handlers.publishOne);
  router.openapi(publishBatchRoute, handlers.publishBatch);
  router.openapi(getNotificationRoute, handlers.describe);
  router.openapi(traceRoute, handlers.trace);
  return router;
}
