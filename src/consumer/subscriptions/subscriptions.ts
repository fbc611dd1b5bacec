import type { CredentialResolver } from "../../core/auth/credentials.js";
import type { Principal } from "../../core/auth/principal.js";
import { generateToken, hashToken } from "../../core/auth/tokens.js";
import { AppError, conflict, forbidden, notFound } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { Broker } from "../../mom/broker.js";
import { compileFilters } from "../../core/filters.js";
import type { DeliveryLedger, DeliveryTelemetry, LedgerStats, QueuePosition, RewindResult } from "../../mom/ledger/ledger.js";
import type { SloState } from "../operations/slo-checker.js";
import { AddressGuard, BlockedAddressError } from "../messages/push/address-guard.js";
import { generateSecret } from "../messages/push/signature.js";
import {
  fingerprint,
  leaseTarget,
  specOf,
  toSpec,
  withoutSecret,
  type CreateSubscription,
  type DeliveryInput,
  type Subscription,
  type SubscriptionDefaults,
  type UpdateSubscription,
} from "./subscription.js";
import type { SubscriptionStore } from "./subscription-store.js";

export type CreateOutcome =
  | { created: true; subscription: Subscription; token: string; secret: string | undefined }
  | { created: false; subscription: Subscription };

export interface PushSettings {
  guard: AddressGuard;
  secretGraceSeconds: number;
  /** How long a push delivery's lease lasts (request timeout plus margin). */
  leaseSeconds: number;
}

export interface TelemetrySettings {
  statsWindowSeconds: number;
  sloState(subscriptionId: string): Promise<Omit<SloState, "maxLagSeconds">>;
}

export type Position = QueuePosition & { pending: number };

export type SubscriptionStats = LedgerStats &
  Position &
  Omit<DeliveryTelemetry, "windowAcked"> & { ackedTotal: number; windowSeconds: number; slo: SloState | null };

export type RewindFrom = { fromSequence: number } | { fromTime: string };

/**
 * Subscriptions read for a request are kept this long, so pulls and acks do not each pay a
 * look-up; changes made here evict at once, changes made by other processes show within it.
 */
const CACHE_MS = 1000;

export class Subscriptions {
  private readonly cache = new Map<string, { subscription: Subscription; expiresAt: number }>();

  constructor(
    private readonly store: SubscriptionStore,
    private readonly ledger: DeliveryLedger,
    private readonly broker: Broker,
    private readonly credentials: CredentialResolver,
    private readonly defaults: SubscriptionDefaults,
    private readonly push: PushSettings,
    private readonly telemetry: TelemetrySettings,
  ) {}

  /**
   * Creates a subscription, idempotently: the same request again answers with the existing
   * one (its token is not shown again), a different request under the same name conflicts.
   * The stream position is read before the row commits, so every notification accepted after
   * the answer is routed to it.
   */
  async create(request: CreateSubscription): Promise<CreateOutcome> {
    const spec = toSpec(request, this.defaults);
    const chosenSecret = request.delivery.mode === "push" ? request.delivery.secret : undefined;
    const print = fingerprint(spec, chosenSecret);
    const existing = await this.store.findByName(spec.name);
    if (existing) return this.sameOrConflict(existing, print);

    await this.checkEndpoint(request.delivery);
    const secret = request.delivery.mode === "push" ? (chosenSecret ?? generateSecret()) : undefined;
    const { lastSeq } = await this.broker.stream();
    const token = generateToken("subscription");
    const subscription = await this.store.create({
      id: uuidv7(),
      spec,
      fingerprint: print,
      startSeq: lastSeq + 1,
      tokenHash: hashToken(token),
      ...(secret ? { secret } : {}),
    });
    if (subscription) {
      if (spec.prefill) this.broker.requestPrefill();
      return { created: true, subscription, token, secret };
    }
    const winner = await this.store.findByName(spec.name);
    if (!winner) throw conflict(`subscription ${spec.name} was created and deleted meanwhile; retry`);
    return this.sameOrConflict(winner, print);
  }

  private sameOrConflict(existing: Subscription, print: string): CreateOutcome {
    if (existing.fingerprint !== print) {
      throw conflict(`a different subscription named ${existing.name} exists; choose another name or PATCH it`);
    }
    return { created: false, subscription: existing };
  }

  /** The subscription named, if this principal may reach it. */
  async access(name: string, principal: Principal): Promise<Subscription> {
    const subscription = await this.find(name);
    if (!subscription) throw notFound(`subscription ${name}`);
    // A cached token of a deleted subscription must not reach a new one of the same name.
    if (principal.kind === "subscription" && principal.id !== subscription.id) {
      throw forbidden("a subscription token reaches only its own subscription");
    }
    return subscription;
  }

  private async find(name: string): Promise<Subscription | undefined> {
    const cached = this.cache.get(name);
    if (cached && cached.expiresAt > Date.now()) return cached.subscription;
    const subscription = await this.store.findByName(name);
    if (this.cache.size >= 10_000) this.cache.clear();
    if (subscription) this.cache.set(name, { subscription, expiresAt: Date.now() + CACHE_MS });
    else this.cache.delete(name);
    return subscription;
  }

  async describe(name: string, principal: Principal): Promise<{ subscription: Subscription; stats: SubscriptionStats }> {
    this.cache.delete(name);
    const subscription = await this.access(name, principal);
    const window = this.telemetry.statsWindowSeconds;
    const [counts, position, telemetry, slo] = await Promise.all([
      this.ledger.stats(leaseTarget(subscription)),
      this.queuePosition(subscription),
      this.ledger.telemetry(window, subscription.id),
      subscription.slo ? this.telemetry.sloState(subscription.id) : undefined,
    ]);
    const { windowAcked: _windowAcked, ...delivery } = telemetry.get(subscription.id)!;
    return {
      subscription,
      stats: {
        ...counts,
        ...position,
        pending: counts.pending,
        ...delivery,
        ackedTotal: counts.acked,
        windowSeconds: window,
        slo: subscription.slo && slo ? { maxLagSeconds: subscription.slo.maxLagSeconds, ...slo } : null,
      },
    };
  }

  async position(name: string, principal: Principal): Promise<Position> {
    this.cache.delete(name);
    const subscription = await this.access(name, principal);
    const [counts, position] = await Promise.all([this.ledger.stats(leaseTarget(subscription)), this.queuePosition(subscription)]);
    return { ...position, pending: counts.pending };
  }

  private queuePosition(subscription: Subscription): Promise<QueuePosition> {
    const leaseSeconds = subscription.delivery.mode === "push" ? this.push.leaseSeconds : subscription.ackTimeoutSeconds;
    return this.ledger.queuePosition(subscription.id, leaseSeconds, subscription.startSeq);
  }

  /**
   * Delivers again every notification from a sequence or a time on that the subscription's
   * current filters match, acked ones included, then live ones as usual. It starts no earlier
   * than the subscription's first live sequence (for a prefill subscription: after its P; a
   * fresh state comes from a new prefill), and not while a prefill is running.
   */
  async rewind(name: string, principal: Principal, from: RewindFrom): Promise<RewindResult> {
    this.cache.delete(name);
    const subscription = await this.access(name, principal);
    const { liveFromSeq } = leaseTarget(subscription);
    if (liveFromSeq === null) throw conflict(`subscription ${name} is still being prefilled; rewind once its prefill is done`);
    const requested = "fromSequence" in from ? from.fromSequence : await this.ledger.sequenceAt(new Date(from.fromTime));
    if (requested === undefined) return { fromSequence: (await this.broker.stream()).lastSeq + 1, requeued: 0, expiredLeases: 0 };
    const result = await this.ledger.rewind({
      subscriptionId: subscription.id,
      fromSeq: Math.max(requested, liveFromSeq),
      matches: compileFilters(subscription.filters),
    });
    this.broker.wake(subscription.id);
    return result;
  }

  list(limit: number, afterName?: string): Promise<Subscription[]> {
    return this.store.list(limit, afterName);
  }

  async update(name: string, patch: UpdateSubscription, principal: Principal): Promise<Subscription> {
    const current = await this.access(name, principal);
    if (patch.delivery) await this.checkEndpoint(patch.delivery);
    if (patch.delivery && (patch.delivery.mode === "push") !== (current.delivery.mode === "push")) {
      throw new AppError("unprocessable", "a subscription cannot switch between pull and push; create another one");
    }
    const { slo: _previousSlo, ...rest } = specOf(current);
    const slo = patch.slo === undefined ? current.slo : (patch.slo ?? undefined);
    const spec = {
      ...rest,
      ...(slo ? { slo } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.filters ? { filters: patch.filters } : {}),
      ...(patch.delivery ? { delivery: withoutSecret(patch.delivery) } : {}),
      ...(patch.ackTimeoutSeconds ? { ackTimeoutSeconds: patch.ackTimeoutSeconds } : {}),
      ...(patch.maxDeliveries ? { maxDeliveries: patch.maxDeliveries } : {}),
    };
    const updated = await this.store.update(current.id, {
      spec,
      fingerprint: fingerprint(spec),
      ...(patch.status ? { status: patch.status } : {}),
    });
    if (!updated) throw notFound(`subscription ${name}`);
    this.cache.delete(name);
    // A resumed subscription's backlog goes out now, not at each message's next retry time.
    if (updated.resumedNow) await this.ledger.releaseWaiting(updated.id);
    if (patch.status === "active") this.broker.wake(updated.id);
    const { resumedNow: _resumedNow, ...subscription } = updated;
    return subscription;
  }

  /**
   * `status: active` by one call, for the admin or the subscription's own token (its owner fixed
   * the endpoint): what queued while it was paused or disabled is delivered, in per-subject order.
   */
  async resume(name: string, principal: Principal): Promise<Subscription> {
    const current = await this.access(name, principal);
    if (current.status === "active") return current;
    return this.update(name, { status: "active" }, principal);
  }

  async delete(name: string, principal: Principal): Promise<void> {
    const subscription = await this.access(name, principal);
    this.cache.delete(name);
    if (!(await this.store.delete(subscription.id))) throw notFound(`subscription ${name}`);
    this.credentials.forget(subscription.id);
  }

  /** A new signing secret; the old one keeps signing alongside it for the grace period. */
  async rotateSecret(name: string, principal: Principal, chosen?: string): Promise<{ secret: string; previousValidUntil: Date }> {
    const subscription = await this.access(name, principal);
    if (subscription.delivery.mode !== "push") throw conflict(`subscription ${name} is pulled; only push subscriptions have a secret`);
    const secret = chosen ?? generateSecret();
    await this.store.rotateSecret(subscription.id, secret, this.push.secretGraceSeconds);
    return { secret, previousValidUntil: new Date(Date.now() + this.push.secretGraceSeconds * 1000) };
  }

  /** Push URLs must not lead to loopback, private or link-local addresses unless configuration allows it. */
  private async checkEndpoint(delivery: DeliveryInput): Promise<void> {
    if (delivery.mode !== "push") return;
    try {
      await this.push.guard.check(new URL(delivery.url));
    } catch (error) {
      const reason = error instanceof BlockedAddressError ? `${error.message}; refused` : `its host does not resolve (${(error as Error).message})`;
      throw new AppError("validation_failed", `delivery.url: ${reason}`, [{ path: "delivery.url", message: reason }]);
    }
  }

  async rotateToken(name: string, principal: Principal): Promise<string> {
    const subscription = await this.access(name, principal);
    const token = generateToken("subscription");
    if (!(await this.store.replaceToken(subscription.id, hashToken(token)))) throw notFound(`subscription ${name}`);
    this.credentials.forget(subscription.id);
    return token;
  }
}
