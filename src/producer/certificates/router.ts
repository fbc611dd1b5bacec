import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import type { NotificationJournal } from "../../mom/journal/journal.js";
import { certificateHandlers } from "./handlers.js";
import { historyRoute } from "./routes.js";

export function certificatesRouter(journal: NotificationJournal): App {
  const handlers = certificateHandlers(journal);
  const router = createRouter();
  router.openapi(historyRoute, handlers.history);
  return router;
}
