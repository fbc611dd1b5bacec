import { createRouter } from "../core/http/app.js";
import { PostgresDeliveryLedger } from "../mom/ledger/postgres-ledger.js";
import { sharePeriodic } from "../mom/cluster/coordinator.js";
import { ledgerRetentionRules } from "../mom/ledger/postgres/retention-rules.js";
import { PostgresRetentionHorizons } from "../mom/retention/postgres-retention.js";
import { Retention } from "../mom/retention/retention.js";
import type { Service, ServiceDeps } from "../mom/service.js";
import { Messages } from "./messages/messages.js";
import { AddressGuard } from "./messages/push/address-guard.js";
import { PushPump, pushLeaseSeconds } from "./messages/push/push-pump.js";
import { PostgresPushStore } from "./messages/push/push-store.js";
import { PushSupervisor } from "./messages/push/push-supervisor.js";
import { RetryPolicy } from "./messages/push/retry-policy.js";
import { NodeWebhookClient } from "./messages/push/webhook-client.js";
import { messagesRouter } from "./messages/router.js";
import { WakeHub } from "./messages/wake-hub.js";
import { OperationalEvents } from "./operations/operational-events.js";
import { SloChecker } from "./operations/slo-checker.js";
import { registerSubscriptionMetrics } from "./operations/subscription-metrics.js";
import { subscriptionsRouter } from "./subscriptions/router.js";
import { PostgresSubscriptionStore } from "./subscriptions/subscription-store.js";
import { Subscriptions } from "./subscriptions/subscriptions.js";

const PUSH_LEASE_PREFIX = "push.";
const pushLeaseName = (subscriptionId: string) => `${PUSH_LEASE_PREFIX}${subscriptionId}`;

/** The subscriber side: subscription registration, pull delivery, and push delivery workers. */
export function setupConsumer(deps: ServiceDeps): Service {
  const { config } = deps;
  const logger = deps.logger.child({ service: "consumer" });
  const ledger = new PostgresDeliveryLedger(deps.db);
  const hub = new WakeHub(deps.broker);
  const events = new OperationalEvents(deps.db, deps.broker, deps.version, logger);
  const subscriptionStore = new PostgresSubscriptionStore(deps.db, events);
  const pushStore = new PostgresPushStore(deps.db, events);
  const guard = new AddressGuard(config.push.allowPrivate);
  const slo = new SloChecker(deps.db, ledger, events, config.telemetry.sloCheckSeconds, logger);
  const subscriptions = new Subscriptions(
    subscriptionStore,
    ledger,
    deps.broker,
    deps.credentials,
    { ackTimeoutSeconds: config.delivery.ackTimeoutSeconds, maxDeliveries: config.delivery.maxDeliveries },
    { guard, secretGraceSeconds: config.push.secretGraceSeconds, leaseSeconds: pushLeaseSeconds(config.push.timeoutSeconds) },
    { statsWindowSeconds: config.telemetry.statsWindowSeconds, sloState: (id) => slo.state(id) },
  );
  const messages = new Messages(ledger, hub, deps.broker, deps.metrics);
  const policy = new RetryPolicy({ scheduleSeconds: config.push.retryScheduleSeconds, retryAfterMaxSeconds: config.push.retryAfterMaxSeconds });
  const supervisor = new PushSupervisor(
    subscriptionStore,
    pushStore,
    (endpoint) =>
      new PushPump(
        endpoint,
        {
          ledger,
          hub,
          store: pushStore,
          policy,
          metrics: deps.metrics,
          tracing: deps.tracing,
          logger: logger.child({ subscription: endpoint.subscription.name }),
          client: new NodeWebhookClient({
            maxSockets: config.push.concurrency,
            maxResponseBytes: config.push.maxResponseBytes,
            lookup: guard.lookup,
          }),
        },
        {
          timeoutSeconds: config.push.timeoutSeconds,
          concurrency: config.push.concurrency,
          disableAfterSeconds: config.push.disableAfterSeconds,
          allowPrivate: config.push.allowPrivate,
          userAgent: `certflow/${deps.version}`,
        },
      ),
    logger,
    () => deps.work.kick(),
  );

  deps.metrics.gauge("certflow_subscription_pending", "Messages waiting or in flight, per subscription", ["subscription"], async (gauge) => {
    const pending = await ledger.pendingBySubscription();
    gauge.reset();
    for (const [name, count] of pending) gauge.set({ subscription: name }, count);
  });

  deps.metrics.gauge("certflow_push_pumps", "Push subscriptions this process delivers, by the status it acts on", ["status"], async (gauge) => {
    gauge.reset();
    for (const [status, count] of supervisor.pumpsByStatus()) gauge.set({ status }, count);
  });

  registerSubscriptionMetrics(deps.metrics, deps.db, ledger, {
    windowSeconds: config.telemetry.statsWindowSeconds,
    pushLeaseSeconds: pushLeaseSeconds(config.push.timeoutSeconds),
  });

  const retention = new Retention(
    [
      ...ledgerRetentionRules(deps.db, config.retention),
      { kind: "push_attempts", periodSeconds: config.retention.pushAttemptsSeconds, prune: (age, batch) => pushStore.pruneAttempts(age, batch) },
      { kind: "operational_outbox", periodSeconds: config.retention.journalSeconds, prune: (age, batch) => events.prunePublished(age, batch) },
    ],
    new PostgresRetentionHorizons(deps.db),
    { batch: config.retention.batch },
    logger,
  );

  const router = createRouter();
  router.route("/", subscriptionsRouter(subscriptions, pushStore));
  router.route("/", messagesRouter(subscriptions, messages));
  return {
    name: "consumer",
    router,
    async start() {
      events.start();
      events.shareSweep(deps.work);
      slo.start();
      supervisor.start();
      // One pump per push subscription across the consumer processes.
      deps.work.share({
        group: "push",
        service: "consumer",
        units: async () => (await supervisor.deliverableIds()).map(pushLeaseName),
        start: (lease) => supervisor.own(lease.name.slice(PUSH_LEASE_PREFIX.length)),
        stop: (name) => supervisor.disown(name.slice(PUSH_LEASE_PREFIX.length)),
      });
      sharePeriodic(
        deps.work,
        {
          name: "retention",
          service: "consumer",
          intervalMs: config.retention.intervalSeconds * 1000,
          run: async (_lease, signal) => void (await retention.pass(signal)),
        },
        logger,
      );
    },
    async stop() {
      await supervisor.stop();
      await slo.stop();
      await events.stop();
      hub.close();
    },
  };
}
