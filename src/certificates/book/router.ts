import { createRouter } from "../../core/http/app.js";
import type { App } from "../../core/http/env.js";
import type { NotificationJournal } from "../../mom/journal/journal.js";
import { certificateHandlers } from "./handlers.js";
import type { Commands } from "../commands/commands.js";
import type { CertificateBook } from "./registry.js";
import { registryHandlers } from "./registry-handlers.js";
import {
  cancelCertificateRoute,
  getCertificateRoute,
  listCertificatesRoute,
  registerAnnualRoute,
  validateCertificateRoute,
} from "./registry-routes.js";
import { historyRoute } from "./routes.js";

export function certificatesRouter(journal: NotificationJournal, registry: CertificateBook, commands: Commands): App {
  const history = certificateHandlers(journal);
  const handlers = registryHandlers(registry, commands);
  const router = createRouter();
  router.openapi(historyRoute, history.history);
  router.openapi(registerAnnualRoute, handlers.registerAnnual);
  router.openapi(listCertificatesRoute, handlers.list);
  router.openapi(getCertificateRoute, handlers.get);
  router.openapi(cancelCertificateRoute, handlers.cancel);
  router.openapi(validateCertificateRoute, handlers.validate);
  return router;
}
