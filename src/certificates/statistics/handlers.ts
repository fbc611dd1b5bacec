import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../core/http/env.js";
import type { statisticsRoute } from "./routes.js";
import type { StatisticsStore } from "./statistics.js";

export function statisticsHandlers(statistics: StatisticsStore) {
  const get: RouteHandler<typeof statisticsRoute, AppEnv> = async (c) => {
    return c.json(await statistics.collect(), 200);
  };
  return { get };
}
