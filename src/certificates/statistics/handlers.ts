import type { RouteHandler } from "@hono/zod-openapi";
import { requirePrincipal } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import type { statisticsRoute } from "./routes.js";
import type { StatisticsStore } from "./statistics.js";

export function statisticsHandlers(statistics: StatisticsStore) {
  const get: RouteHandler<typeof statisticsRoute, AppEnv> = async (c) => {
    requirePrincipal(c, "admin", "producer");
    return c.json(await statistics.collect(), 200);
  };
  return { get };
}
