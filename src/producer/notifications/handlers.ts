import type { RouteHandler } from "@hono/zod-openapi";
import { requirePrincipal } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import type { PublishNotifications } from "./publish-notifications.js";
import type { publishBatchRoute, publishRoute } from "./routes.js";

export function notificationHandlers(publish: PublishNotifications) {
  const publishOne: RouteHandler<typeof publishRoute, AppEnv> = async (c) => {
    const producer = requirePrincipal(c, "producer");
    const result = await publish.publishOne(c.req.valid("json"), producer, c.get("logger"));
    return c.json(result, 202);
  };

  const publishBatch: RouteHandler<typeof publishBatchRoute, AppEnv> = async (c) => {
    const producer = requirePrincipal(c, "producer");
    const results = await publish.publishBatch(c.req.valid("json").notifications, producer, c.get("logger"));
    return c.json({ results }, 202);
  };

  return { publishOne, publishBatch };
}
