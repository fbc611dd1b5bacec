import { sql } from "kysely";
import { PostgresDeliveryLedger } from "../mom/ledger/postgres-ledger.js";
import { createRouter } from "../core/http/app.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { Messages } from "./messages/messages.js";
import { messagesRouter } from "./messages/router.js";
import { WakeHub } from "./messages/wake-hub.js";
import { subscriptionsRouter } from "./subscriptions/router.js";
import { PostgresSubscriptionStore } from "./subscriptions/subscription-store.js";
import { Subscriptions } from "./subscriptions/subscriptions.js";

/** The subscriber side: subscription registration and pull delivery. */
export function setupConsumer(deps: ServiceDeps): Service {
  const ledger = new PostgresDeliveryLedger(deps.db);
  const hub = new WakeHub(deps.broker);
  const subscriptions = new Subscriptions(new PostgresSubscriptionStore(deps.db), ledger, deps.broker, deps.credentials, {
    ackTimeoutSeconds: deps.config.delivery.ackTimeoutSeconds,
    maxDeliveries: deps.config.delivery.maxDeliveries,
  });
  const messages = new Messages(ledger, hub, deps.broker, deps.metrics);

  deps.metrics.gauge("certflow_subscription_pending", "Messages waiting or in flight, per subscription", ["subscription"], async (gauge) => {
    const rows = await sql<{ name: string; pending: number }>`
      SELECT s.name, count(d.subscription_id)::int AS pending
      FROM subscriptions s LEFT JOIN deliveries d ON d.subscription_id = s.id AND d.state = 'pending'
      GROUP BY s.name
    `.execute(deps.db);
    gauge.reset();
    for (const row of rows.rows) gauge.set({ subscription: row.name }, row.pending);
  });

  const router = createRouter();
  router.route("/", subscriptionsRouter(subscriptions));
  router.route("/", messagesRouter(subscriptions, messages));
  return {
    name: "consumer",
    router,
    async stop() {
      hub.close();
    },
  };
}
