import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import type { Broker } from "../../mom/broker.js";
import type { PrefillQueue } from "../snapshots/prefill-queue.js";
import { prefillHandlers } from "./handlers.js";
import { rerunPrefillRoute } from "./routes.js";
import type { SubscriptionLookup } from "./subscription-lookup.js";

export function prefillsRouter(lookup: SubscriptionLookup, queue: PrefillQueue, broker: Broker): App {
  const router = createRouter();
  router.openapi(rerunPrefillRoute, prefillHandlers(lookup, queue, broker).rerun);
  return router;
}
