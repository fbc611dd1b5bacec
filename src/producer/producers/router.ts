import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import { producerHandlers } from "./handlers.js";
import type { Producers } from "./producers.js";
import { listProducersRoute, registerProducerRoute, revokeProducerRoute, rotateProducerTokenRoute } from "./routes.js";

export function producersRouter(producers: Producers): App {
  const handlers = producerHandlers(producers);
  const router = createRouter();
  router.openapi(registerProducerRoute, handlers.register);
  router.openapi(listProducersRoute, handlers.list);
  router.openapi(revokeProducerRoute, handlers.revoke);
  router.openapi(rotateProducerTokenRoute, handlers.rotateToken);
  return router;
}
