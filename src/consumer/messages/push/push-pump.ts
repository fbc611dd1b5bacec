import type { Logger } from "../../../core/logger.js";
import type { Metrics } from "../../../core/metrics.js";
import { Outage, abortableDelay, isUnavailableError } from "../../../core/outage.js";
import type { Tracing } from "../../../core/tracing.js";
import type { AckId, DeliveryLedger, LeasedMessage, LeaseTarget } from "../../../mom/ledger/ledger.js";
import { leaseTarget, type PushDelivery, type Subscription } from "../../subscriptions/subscription.js";
import type { WakeHub } from "../wake-hub.js";
import { isBlockedAddress } from "./address-guard.js";
import { pushBody } from "./formats.js";
import type { NewAttempt, PushStore, SigningSecret } from "./push-store.js";
import { parseRetryAfter, type RetryPolicy } from "./retry-policy.js";
import { signatureHeader } from "./signature.js";
import type { WebhookClient, WebhookResult } from "./webhook-client.js";
import { isIP } from "node:net";
import { attemptSpanId, formatTraceparent, parseTraceparent } from "../../../core/trace-context.js";

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
  tracing: Tracing;
  logger: Logger;
}

/** How long past the request timeout a lease lasts: if this process dies mid-request, the message is retried then. */
const LEASE_MARGIN_SECONDS = 30;
const MAX_IDLE_MS = 60_000;

export const pushLeaseSeconds = (timeoutSeconds: number) => timeoutSeconds + LEASE_MARGIN_SECONDS;
/** How many answered deliveries, per unit of concurrency, may wait for their batch to be written. */
const UNSETTLED_FACTOR = 4;
/** A delivery limit no message reaches (the column is a 32-bit integer). */
const NEVER_DEAD_LETTER = 2 ** 31 - 1;

/**
 * Delivers one push subscription: leases up to `concurrency` heads (so at most one message per
 * subject is in flight, and subjects go out in order), POSTs each, and settles it by the answer.
 */
export class PushPump {
  private readonly inFlight = new Set<Promise<void>>();
  private settling: Settlement[] = [];
  private flushing: Promise<void> | undefined;
  private stopped = false;
  /** Counts kicks, so one that comes while the loop is leasing (not sleeping) is not lost. */
  private kicks = 0;
  private wakeSleeper: () => void = () => {};
  private failingSince: Date | null;
  private readonly finished: Promise<void>;
  private readonly leasing: Outage;
  private readonly settlingOutage: Outage;

  constructor(
    private endpoint: PushEndpoint,
    private readonly deps: PushPumpDeps,
    private readonly options: PushPumpOptions,
  ) {
    this.leasing = new Outage(deps.logger, "push lease");
    this.settlingOutage = new Outage(deps.logger, "push settlement");
    this.failingSince = endpoint.subscription.failingSince;
    this.finished = this.loop();
  }

  update(endpoint: PushEndpoint): void {
    this.endpoint = endpoint;
    this.failingSince = endpoint.subscription.failingSince;
    this.kick();
  }

  /** The subscription status this pump acts on (it leases only while `active`). */
  get status(): string {
    return this.endpoint.subscription.status;
  }

  /** Stops leasing and waits for the requests in flight to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.finished;
    await Promise.all(this.inFlight);
    await this.flushing;
    this.deps.client.close();
  }

  private get subscriptionId(): string {
    return this.endpoint.subscription.id;
  }

  private target(): LeaseTarget {
    return {
      ...leaseTarget(this.endpoint.subscription),
      ackTimeoutSeconds: pushLeaseSeconds(this.options.timeoutSeconds),
      maxDeliveries: this.deps.policy.maxAttempts,
    };
  }

  private async loop(): Promise<void> {
    while (!this.stopped && !this.deps.hub.isClosed) {
      const seen = this.deps.hub.generation(this.subscriptionId);
      const kicked = this.kicks;
      let wakeAt = Date.now() + MAX_IDLE_MS;
      // Requests in flight are bounded by the concurrency; answered ones waiting to be settled, by a multiple of it.
      const unsettled = this.settling.length;
      const free = Math.min(this.options.concurrency - this.inFlight.size, this.options.concurrency * UNSETTLED_FACTOR - unsettled);
      if (this.endpoint.subscription.status === "active" && free > 0) {
        try {
          const target = this.target();
          const { messages, deadLettered, nextAvailableAt: next, more } = await this.deps.ledger.lease(target, free);
          this.leasing.succeeded();
          if (deadLettered > 0) this.deps.metrics.messagesDeadLettered.inc({ reason: "max_deliveries" }, deadLettered);
          for (const message of messages) this.launch(message);
          if (messages.length > 0 || more) continue;
          if (next) wakeAt = Math.min(wakeAt, next.getTime() + 5);
        } catch (error) {
          wakeAt = Date.now() + this.leasing.failed(error);
        }
      }
      await this.sleep(seen, kicked, wakeAt);
    }
  }

  /**
   * Wakes the loop: a slot was freed, outcomes were written (a retry's delay now counts from
   * them) or the settings changed. A kick during a lease makes the sleep after it return at once:
   * that lease may have read the rows before the outcomes were written.
   */
  private kick(): void {
    this.kicks++;
    this.wakeSleeper();
  }

  /** Until a wake-up for this subscription, a kick since `kicked`, or `until`. */
  private sleep(seen: number, kicked: number, until: number): Promise<void> {
    if (this.stopped || this.kicks !== kicked) return Promise.resolve();
    const controller = new AbortController();
    this.wakeSleeper = () => controller.abort();
    return this.deps.hub.wait(this.subscriptionId, seen, until, controller.signal, true);
  }

  private launch(message: LeasedMessage): void {
    const delivery = this.deliver(message)
      .catch((error: unknown) => this.deps.logger.error({ err: error, sequence: message.sequence }, "push delivery failed to settle"))
      .finally(() => {
        this.inFlight.delete(delivery);
        this.kick();
      });
    this.inFlight.add(delivery);
  }

  private async deliver(message: LeasedMessage): Promise<void> {
    const { subscription, secrets } = this.endpoint;
    const delivery = subscription.delivery as PushDelivery;
    const url = new URL(delivery.url);
    const { id: notificationId, traceparent, tracestate } = JSON.parse(message.notificationJson) as {
      id: string;
      traceparent?: string;
      tracestate?: string;
    };
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
        ...attemptTraceHeaders(traceparent, tracestate, subscription.id, message),
      },
    }));
    const succeeded = result.kind === "response" && result.status >= 200 && result.status < 300;
    this.recordAttempt(traceparent, message, startedAt, result, succeeded);
    this.deps.metrics.pushAttempts.observe({ outcome: succeeded ? "succeeded" : "failed" }, result.latencyMs / 1000);
    const attempt: NewAttempt = {
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
    };
    if (succeeded) return this.settle({ kind: "ack", ackId: message.ackId, attempt });
    if (result.kind === "response" && result.status === 410) {
      await this.deps.store.disable(this.subscriptionId, "the endpoint answered 410 Gone");
      this.endpoint.subscription.status = "disabled";
      this.deps.logger.warn("push subscription disabled: the endpoint answered 410 Gone");
      // The message waits for the subscription to be enabled again; it is not the message's fault.
      return this.settle({ kind: "hold", ackId: message.ackId, attempt });
    }
    const retryAfter = result.kind === "response" ? parseRetryAfter(result.retryAfter) : undefined;
    const delaySeconds = this.deps.policy.delayAfter(message.deliveryCount, retryAfter) ?? 0;
    return this.settle({ kind: "retry", ackId: message.ackId, delaySeconds, attempt });
  }

  /** The attempt as a client span under the notification's span, with the id its `traceparent` header carried. */
  private recordAttempt(traceparent: string | undefined, message: LeasedMessage, startedAt: Date, result: WebhookResult, succeeded: boolean): void {
    const parent = parseTraceparent(traceparent);
    if (!parent) return;
    const { subscription } = this.endpoint;
    this.deps.tracing.record({
      name: `webhook ${subscription.name}`,
      kind: "client",
      traceId: parent.traceId,
      spanId: attemptSpanId(subscription.id, message.phase, message.sequence, message.deliveryCount),
      parentSpanId: parent.spanId,
      start: startedAt,
      end: new Date(startedAt.getTime() + result.latencyMs),
      failed: !succeeded,
      attributes: {
        "certflow.subscription": subscription.name,
        "certflow.attempt": message.deliveryCount,
        "certflow.sequence": message.sequence,
        ...(result.kind === "response" ? { "http.response.status_code": result.status } : { "error.type": result.error }),
      },
    });
  }

  /** IP literals skip the resolver, so they are checked here; names are checked as they resolve. */
  private refusedLiteral(url: URL): WebhookResult | undefined {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (this.options.allowPrivate || !isIP(host) || !isBlockedAddress(host)) return undefined;
    return { kind: "error", error: `refused: ${host} is a loopback, private or link-local address`, latencyMs: 0 };
  }

  /**
   * Queues a delivery's outcome; it is written with those that finish meanwhile: one ack, one
   * nack and one attempt-log statement per batch rather than per message. The request's slot is
   * free at once: the message stays its subject's head, so nothing overtakes it until written.
   */
  private settle(settlement: Settlement): void {
    this.settling.push(settlement);
    this.flushing ??= this.flushAll().finally(() => {
      this.flushing = undefined;
      this.kick();
    });
  }

  private async flushAll(): Promise<void> {
    while (this.settling.length > 0) {
      const batch = this.settling;
      this.settling = [];
      try {
        await this.flush(batch);
        this.settlingOutage.succeeded();
      } catch (error) {
        if (isUnavailableError(error) && !this.stopped) {
          // The database is away: keep the outcomes and write them once it is back (every
          // settlement is safe to repeat), rather than resending each message after its lease.
          this.settling = [...batch, ...this.settling];
          await abortableDelay(this.settlingOutage.failed(error));
          continue;
        }
        // Leases not settled expire and the messages go out again: at least once, never lost.
        this.deps.logger.error({ err: error }, "could not settle push deliveries; they will be retried");
      }
      this.kick();
    }
  }

  private async flush(items: Settlement[]): Promise<void> {
    const target = this.target();
    const acks = items.filter((item) => item.kind === "ack").map((item) => item.ackId);
    const retries = items.flatMap((item) => (item.kind === "retry" ? [{ ackId: item.ackId, delaySeconds: item.delaySeconds }] : []));
    const holds = items.flatMap((item) => (item.kind === "hold" ? [{ ackId: item.ackId, delaySeconds: 0 }] : []));
    await this.deps.store
      .recordAttempts(items.map((item) => item.attempt))
      .catch((error: unknown) => {
        if (isUnavailableError(error)) throw error;
        this.deps.logger.warn({ err: error }, "could not record push attempts");
      });
    if (acks.length > 0) {
      await this.deps.ledger.ack(this.subscriptionId, acks);
      this.deps.metrics.messagesDelivered.inc({ mode: "push" }, acks.length);
      this.deps.metrics.messagesAcked.inc(acks.length);
    }
    if (holds.length > 0) await this.deps.ledger.nack({ ...target, maxDeliveries: NEVER_DEAD_LETTER }, holds);
    if (retries.length > 0) {
      const outcomes = await this.deps.ledger.nack(target, retries);
      const dead = outcomes.filter((outcome) => outcome.status === "dead_lettered").length;
      if (dead > 0) {
        this.deps.metrics.messagesDeadLettered.inc({ reason: "retries_exhausted" }, dead);
        this.deps.logger.warn({ dead }, "push messages dead-lettered after their last attempt");
      }
    }
    if (acks.length > 0) await this.noteSuccess();
    else if (retries.length > 0) await this.noteFailure();
  }

  private async noteSuccess(): Promise<void> {
    if (!this.failingSince) return;
    this.failingSince = null;
    await this.deps.store.recovered(this.subscriptionId);
  }

  /** An endpoint that has only failed for longer than allowed is disabled, saying since when. */
  private async noteFailure(): Promise<void> {
    this.failingSince ??= await this.deps.store.failing(this.subscriptionId);
    if (Date.now() - this.failingSince.getTime() < this.options.disableAfterSeconds * 1000) return;
    const reason = `every attempt has failed since ${this.failingSince.toISOString()}`;
    await this.deps.store.disable(this.subscriptionId, reason);
    this.endpoint.subscription.status = "disabled";
    this.deps.logger.warn({ reason }, "push subscription disabled");
  }
}

type Settlement =
  | { kind: "ack"; ackId: AckId; attempt: NewAttempt }
  | { kind: "retry"; ackId: AckId; delaySeconds: number; attempt: NewAttempt }
  | { kind: "hold"; ackId: AckId; attempt: NewAttempt };

/** Each attempt is a span in the notification's trace, a child of its span, with an id derived from the attempt. */
function attemptTraceHeaders(traceparent: string | undefined, tracestate: string | undefined, subscriptionId: string, message: LeasedMessage) {
  const parent = parseTraceparent(traceparent);
  if (!parent) return {};
  const spanId = attemptSpanId(subscriptionId, message.phase, message.sequence, message.deliveryCount);
  return { traceparent: formatTraceparent(parent.traceId, spanId, parent.flags), ...(tracestate ? { tracestate } : {}) };
}

function describeFailure(result: WebhookResult): string {
  if (result.kind === "error") return result.error;
  return result.excerpt ? `HTTP ${result.status}: ${result.excerpt}` : `HTTP ${result.status}`;
}
