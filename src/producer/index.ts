import { createRouter } from "../core/http/app.js";
import { PostgresNotificationJournal } from "../mom/journal/postgres-journal.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { PublishNotifications } from "./notifications/publish-notifications.js";
import { notificationsRouter } from "./notifications/router.js";
import { PostgresProducerStore } from "./producers/producer-store.js";
import { Producers } from "./producers/producers.js";
import { producersRouter } from "./producers/router.js";

/** The producer side: credentials for producers and the notification API. */
export function setupProducer(deps: ServiceDeps): Service {
  const publish = new PublishNotifications(deps.broker, new PostgresNotificationJournal(deps.db), deps.metrics);
  const producers = new Producers(new PostgresProducerStore(deps.db), deps.credentials);
  const router = createRouter();
  router.route("/", notificationsRouter(publish));
  router.route("/", producersRouter(producers));
  return { name: "producer", router };
}
