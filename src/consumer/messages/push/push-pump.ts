import type { Logger } from "../../../core/logger.js";
import type { Metrics } from "../../../core/metrics.js";
import type { DeliveryLedger, LeasedMessage, LeaseTarget } from "../../../mom/ledger/ledger.js";
import { leaseTarget, type PushDelivery, type Subscription } from "../../subscriptions/subscription.js";
import type { WakeHub } from "../wake-hub.js";
import { isBlockedAddress } from "./address-guard.js";
import { pushBody } from "./formats.js";
import type { PushStore, SigningSecret } from "./push-store.js";
import { parseRetryAfter, type RetryPolicy } from "./retry-policy.js";
import { signatureHeader } from "./signature.js";
import type { WebhookClient, WebhookResult } from "./webhook-client.js";
import { isIP } from "node:net";

export interface PushEndpoint {
  subscription: Subscription;
  secrets: SigningSecret[];
}

export interface PushPumpOptions {
  timeoutSeconds: number;
  concurrency: number;
  disableAfterSeconds: number;
  allowPrivate: boolean;
  userAgent: string;
}

export interface PushPumpDeps {
  ledger: DeliveryLedger;
  hub: WakeHub;
  store: PushStore;
  client: WebhookClient;
  policy: RetryPolicy;
  metrics: Metrics;
  logger: Logger;
}

/** How long past the request timeout a lease lasts: if this process dies mid-request, the message is retried then. */
const LEASE_MARGIN_SECONDS = 30;
const MAX_IDLE_MS = 60_000;
/** A delivery limit no message reaches (the column is a 32-bit integer). */
const NEVER_DEAD_LETTER = 2 ** 31 - 1;

/**
 * Delivers one push subscription: leases up to `concurrency` heads (so at most one message per
 * subject is in flight, and subjects go out in order), POSTs each, and settles it by the answer.
 */
export class PushPump {
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private kick: () => void = () => {};
  private failingSince: Date | null;
  private readonly finished: Promise<void>;

  constructor(
    private endpoint: PushEndpoint,
    private readonly deps: PushPumpDeps,
    private readonly options: PushPumpOptions,
  ) {
    this.failingSince = endpoint.subscription.failingSince;
    this.finished = this.loop();
  }

  update(endpoint: PushEndpoint): void {
    this.endpoint = endpoint;
    this.failingSince = endpoint.subscription.failingSince;
    this.kick();
  }

  /** Stops leasing and waits for the requests in flight to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.finished;
    await Promise.all(this.inFlight);
    this.deps.client.close();
  }

  private get subscriptionId(): string {
    return this.endpoint.subscription.id;
  }

  private target(): LeaseTarget {
    return {
      ...leaseTarget(this.endpoint.subscription),
      ackTimeoutSeconds: this.options.timeoutSeconds + LEASE_MARGIN_SECONDS,
      maxDeliveries: this.deps.policy.maxAttempts,
    };
  }

  private async loop(): Promise<void> {
    while (!this.stopped && !this.deps.hub.isClosed) {
      const seen = this.deps.hub.generation(this.subscriptionId);
      let wakeAt = Date.now() + MAX_IDLE_MS;
      const free = this.options.concurrency - this.inFlight.size;
      if (this.endpoint.subscription.status === "active" && free > 0) {
        try {
          const target = this.target();
          const { messages, deadLettered } = await this.deps.ledger.lease(target, free);
          if (deadLettered > 0) this.deps.metrics.messagesDeadLettered.inc({ reason: "max_deliveries" }, deadLettered);
          for (const message of messages) this.launch(message, target);
          if (messages.length > 0) continue;
          const next = await this.deps.ledger.nextAvailableAt(target);
          if (next) wakeAt = Math.min(wakeAt, next.getTime() + 5);
        } catch (error) {
          this.deps.logger.warn({ err: error }, "push lease failed; retrying");
          wakeAt = Date.now() + 1000;
        }
      }
      await this.sleep(seen, wakeAt);
    }
  }

  /** Until a wake-up for this subscription, a freed slot or new settings, or `until`. */
  private sleep(seen: number, until: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const controller = new AbortController();
    this.kick = () => controller.abort();
    return this.deps.hub.wait(this.subscriptionId, seen, until, controller.signal);
  }

  private launch(message: LeasedMessage, target: LeaseTarget): void {
    const delivery = this.deliver(message, target)
      .catch((error: unknown) => this.deps.logger.error({ err: error, sequence: message.sequence }, "push delivery failed to settle"))
      .finally(() => {
        this.inFlight.delete(delivery);
        this.kick();
      });
    this.inFlight.add(delivery);
  }

  private async deliver(message: LeasedMessage, target: LeaseTarget): Promise<void> {
    const { subscription, secrets } = this.endpoint;
    const delivery = subscription.delivery as PushDelivery;
    const url = new URL(delivery.url);
    const notificationId = (JSON.parse(message.notificationJson) as { id: string }).id;
    const { contentType, body } = pushBody(delivery.format, message.notificationJson);
    const timestamp = Math.floor(Date.now() / 1000);
    const now = Date.now();
    const signing = secrets.filter((secret) => !secret.expiresAt || secret.expiresAt.getTime() > now).map((secret) => secret.secret);
    const startedAt = new Date();
    const result: WebhookResult = this.refusedLiteral(url) ?? (await this.deps.client.post({
      url,
      timeoutMs: this.options.timeoutSeconds * 1000,
      body,
      headers: {
        "content-type": contentType,
        "user-agent": this.options.userAgent,
        "webhook-id": notificationId,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signatureHeader(signing, notificationId, timestamp, body),
        "certflow-subscription": subscription.name,
        "certflow-phase": message.phase,
        "certflow-sequence": String(message.sequence),
        "certflow-attempt": String(message.deliveryCount),
      },
    }));
    const succeeded = result.kind === "response" && result.status >= 200 && result.status < 300;
    this.deps.metrics.pushAttempts.observe({ outcome: succeeded ? "succeeded" : "failed" }, result.latencyMs / 1000);
    await this.deps.store
      .recordAttempt({
        subscriptionId: subscription.id,
        phase: message.phase,
        sequence: message.sequence,
        attempt: message.deliveryCount,
        webhookId: notificationId,
        url: delivery.url,
        startedAt,
        outcome: succeeded ? "succeeded" : "failed",
        statusCode: result.kind === "response" ? result.status : null,
        latencyMs: result.latencyMs,
        error: succeeded ? null : describeFailure(result),
      })
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, "could not record a push attempt"));
    if (succeeded) return this.succeeded(message);
    return this.failed(message, target, result);
  }

  /** IP literals skip the resolver, so they are checked here; names are checked as they resolve. */
  private refusedLiteral(url: URL): WebhookResult | undefined {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (this.options.allowPrivate || !isIP(host) || !isBlockedAddress(host)) return undefined;
    return { kind: "error", error: `refused: ${host} is a loopback, private or link-local address`, latencyMs: 0 };
  }

  private async succeeded(message: LeasedMessage): Promise<void> {
    await this.deps.ledger.ack(this.subscriptionId, [message.ackId]);
    this.deps.metrics.messagesDelivered.inc({ mode: "push" });
    this.deps.metrics.messagesAcked.inc();
    if (this.failingSince) {
      this.failingSince = null;
      await this.deps.store.recovered(this.subscriptionId);
    }
  }

  private async failed(message: LeasedMessage, target: LeaseTarget, result: WebhookResult): Promise<void> {
    const logger = this.deps.logger.child({ subscription: this.endpoint.subscription.name, sequence: message.sequence });
    if (result.kind === "response" && result.status === 410) {
      await this.deps.store.disable(this.subscriptionId, "the endpoint answered 410 Gone");
      this.endpoint.subscription.status = "disabled";
      // The message waits for the subscription to be enabled again; it is not the message's fault.
      await this.deps.ledger.nack({ ...target, maxDeliveries: NEVER_DEAD_LETTER }, [message.ackId], 0);
      logger.warn("push subscription disabled: the endpoint answered 410 Gone");
      return;
    }
    const retryAfter = result.kind === "response" ? parseRetryAfter(result.retryAfter) : undefined;
    const delay = this.deps.policy.delayAfter(message.deliveryCount, retryAfter);
    const [outcome] = await this.deps.ledger.nack(target, [message.ackId], delay ?? 0);
    if (outcome?.status === "dead_lettered") {
      this.deps.metrics.messagesDeadLettered.inc({ reason: "retries_exhausted" });
      logger.warn({ attempts: message.deliveryCount }, "push message dead-lettered after its last attempt");
    }
    await this.noteFailure(logger);
  }

  /** An endpoint that has only failed for longer than allowed is disabled, saying since when. */
  private async noteFailure(logger: Logger): Promise<void> {
    this.failingSince ??= await this.deps.store.failing(this.subscriptionId);
    if (Date.now() - this.failingSince.getTime() < this.options.disableAfterSeconds * 1000) return;
    const reason = `every attempt has failed since ${this.failingSince.toISOString()}`;
    await this.deps.store.disable(this.subscriptionId, reason);
    this.endpoint.subscription.status = "disabled";
    logger.warn({ reason }, "push subscription disabled");
  }
}

function describeFailure(result: WebhookResult): string {
  if (result.kind === "error") return result.error;
  return result.excerpt ? `HTTP ${result.status}: ${result.excerpt}` : `HTTP ${result.status}`;
}
