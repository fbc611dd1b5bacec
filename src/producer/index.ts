import { createRouter } from "../core/http/app.js";
import { PostgresNotificationJournal } from "../mom/journal/postgres-journal.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { InspectNotifications } from "./notifications/inspect-notifications.js";
import { PublishNotifications } from "./notifications/publish-notifications.js";
import { notificationsRouter } from "./notifications/router.js";
import { tracesRouter } from "./traces/router.js";
import { PostgresProducerStore } from "./producers/producer-store.js";
import { Producers } from "./producers/producers.js";
import { producersRouter } from "./producers/router.js";

/** The producer side: credentials for producers, the notification API and the journal behind it. */
export function setupProducer(deps: ServiceDeps): Service {
  const journal = new PostgresNotificationJournal(deps.db);
  const publish = new PublishNotifications(deps.broker, journal, deps.metrics, deps.ingest, deps.tracing);
  const producers = new Producers(new PostgresProducerStore(deps.db), deps.credentials);
  const router = createRouter();
  router.route("/", notificationsRouter(publish, new InspectNotifications(journal)));
  router.route("/", tracesRouter(deps.db));
  router.route("/", producersRouter(producers));
  return { name: "producer", router };
}
