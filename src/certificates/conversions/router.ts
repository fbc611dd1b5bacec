import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import type { Conversions } from "./conversions.js";
import { conversionHandlers } from "./handlers.js";
import { createConversionRoute, getConversionRoute } from "./routes.js";

export function conversionsRouter(conversions: Conversions): App {
  const handlers = conversionHandlers(conversions);
  const router = createRouter();
  router.openapi(createConversionRoute, handlers.create);
  router.openapi(getConversionRoute, handlers.get);
  return router;
}
