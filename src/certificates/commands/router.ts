import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import type { Commands } from "./commands.js";
import { commandHandlers } from "./handlers.js";
import type { CommandOutcomes } from "./outcomes.js";
import type { Reconciler } from "./reconciler.js";
import { claimRoute, getCommandRoute, listCommandsRoute, reconcileRoute, resolveCommandRoute, sliceRoute, transferRoute, withdrawRoute } from "./routes.js";

export function commandsRouter(commands: Commands, outcomes: CommandOutcomes, reconciler: Reconciler): App {
  const handlers = commandHandlers(commands, outcomes, reconciler);
  const router = createRouter();
  router.openapi(sliceRoute, handlers.slice);
  router.openapi(transferRoute, handlers.transfer);
  router.openapi(claimRoute, handlers.claim);
  router.openapi(withdrawRoute, handlers.withdraw);
  router.openapi(getCommandRoute, handlers.get);
  router.openapi(listCommandsRoute, handlers.list);
  router.openapi(resolveCommandRoute, handlers.resolve);
  router.openapi(reconcileRoute, handlers.reconcile);
  return router;
}
