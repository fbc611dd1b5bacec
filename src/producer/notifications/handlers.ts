import type { RouteHandler } from "@hono/zod-openapi";
import { requirePrincipal } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import type { InspectNotifications } from "./inspect-notifications.js";
import type { PublishNotifications } from "./publish-notifications.js";
import type { getNotificationRoute, publishBatchRoute, publishRoute, traceRoute } from "./routes.js";

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function notificationHandlers(publish: PublishNotifications, inspect: InspectNotifications) {
  const publishOne: RouteHandler<typeof publishRoute, AppEnv> = async (c) => {
    const producer = requirePrincipal(c, "producer");
    const result = await publish.publishOne(c.req.valid("json"), producer, c.get("logger"), c.get("trace"));
    return c.json(result, 202);
  };

  const publishBatch: RouteHandler<typeof publishBatchRoute, AppEnv> = async (c) => {
    const producer = requirePrincipal(c, "producer");
    const results = await publish.publishBatch(c.req.valid("json").notifications, producer, c.get("logger"), c.get("trace"));
    return c.json({ results }, 202);
  };

  const describe: RouteHandler<typeof getNotificationRoute, AppEnv> = async (c) => {
    const principal = requirePrincipal(c, "admin", "producer");
    const found = await inspect.describe(c.req.valid("param").id, principal);
    return c.json(
      {
        sequence: found.sequence,
        acceptedAt: found.acceptedAt.toISOString(),
        notification: found.notification,
        deliveries: found.deliveries.map((state) => ({
          ...state,
          lastDeliveredAt: iso(state.lastDeliveredAt),
          finishedAt: iso(state.finishedAt),
        })),
        pastRetention: found.pastRetention,
      },
      200,
    );
  };

  const trace: RouteHandler<typeof traceRoute, AppEnv> = async (c) => {
    const principal = requirePrincipal(c, "admin", "producer");
    return c.json((await inspect.trace(c.req.valid("param").id, principal)) as never, 200);
  };

  return { publishOne, publishBatch, describe, trace };
}
