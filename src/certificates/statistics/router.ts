import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import { statisticsHandlers } from "./handlers.js";
import { statisticsRoute } from "./routes.js";
import type { StatisticsStore } from "./statistics.js";

export function statisticsRouter(statistics: StatisticsStore): App {
  const handlers = statisticsHandlers(statistics);
  const router = createRouter();
  router.openapi(statisticsRoute, handlers.get);
  return router;
}
