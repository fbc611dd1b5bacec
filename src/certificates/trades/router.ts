import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import { tradeHandlers } from "./handlers.js";
import { certificateTradesRoute, createTradeRoute, getTradeRoute, listTradesRoute } from "./routes.js";
import type { Trades } from "./trades.js";

export function tradesRouter(trades: Trades): App {
  const handlers = tradeHandlers(trades);
  const router = createRouter();
  router.openapi(createTradeRoute, handlers.create);
  router.openapi(listTradesRoute, handlers.list);
  router.openapi(getTradeRoute, handlers.get);
  router.openapi(certificateTradesRoute, handlers.history);
  return router;
}
