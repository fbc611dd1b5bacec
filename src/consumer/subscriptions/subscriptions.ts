import type { CredentialResolver } from "../../core/auth/credentials.js";
import type { Principal } from "../../core/auth/principal.js";
import { generateToken, hashToken } from "../../core/auth/tokens.js";
import { conflict, forbidden, notFound } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { Broker } from "../../mom/broker.js";
import type { DeliveryLedger, LedgerStats } from "../../mom/ledger/ledger.js";
import {
  fingerprint,
  leaseTarget,
  specOf,
  toSpec,
  type CreateSubscription,
  type Subscription,
  type SubscriptionDefaults,
  type UpdateSubscription,
} from "./subscription.js";
import type { SubscriptionStore } from "./subscription-store.js";

export type CreateOutcome =
  | { created: true; subscription: Subscription; token: string }
  | { created: false; subscription: Subscription };

export class Subscriptions {
  constructor(
    private readonly store: SubscriptionStore,
    private readonly ledger: DeliveryLedger,
    private readonly broker: Broker,
    private readonly credentials: CredentialResolver,
    private readonly defaults: SubscriptionDefaults,
  ) {}

  /**
   * Creates a subscription, idempotently: the same request again answers with the existing
   * one (its token is not shown again), a different request under the same name conflicts.
   * The stream position is read before the row commits, so every notification accepted after
   * the answer is routed to it.
   */
  async create(request: CreateSubscription): Promise<CreateOutcome> {
    const spec = toSpec(request, this.defaults);
    const print = fingerprint(spec);
    const existing = await this.store.findByName(spec.name);
    if (existing) return this.sameOrConflict(existing, print);

    const { lastSeq } = await this.broker.stream();
    const token = generateToken("subscription");
    const subscription = await this.store.create({
      id: uuidv7(),
      spec,
      fingerprint: print,
      startSeq: lastSeq + 1,
      tokenHash: hashToken(token),
    });
    if (subscription) {
      if (spec.prefill) this.broker.requestPrefill();
      return { created: true, subscription, token };
    }
    const winner = await this.store.findByName(spec.name);
    if (!winner) throw conflict(`subscription ${spec.name} was created and deleted meanwhile; retry`);
    return this.sameOrConflict(winner, print);
  }

  private sameOrConflict(existing: Subscription, print: string): CreateOutcome {
    if (fingerprint(specOf(existing)) !== print) {
      throw conflict(`a different subscription named ${existing.name} exists; choose another name or PATCH it`);
    }
    return { created: false, subscription: existing };
  }

  /** The subscription named, if this principal may reach it. */
  async access(name: string, principal: Principal): Promise<Subscription> {
    const subscription = await this.store.findByName(name);
    if (!subscription) throw notFound(`subscription ${name}`);
    // A cached token of a deleted subscription must not reach a new one of the same name.
    if (principal.kind === "subscription" && principal.id !== subscription.id) {
      throw forbidden("a subscription token reaches only its own subscription");
    }
    return subscription;
  }

  async describe(name: string, principal: Principal): Promise<{ subscription: Subscription; stats: LedgerStats }> {
    const subscription = await this.access(name, principal);
    return { subscription, stats: await this.ledger.stats(leaseTarget(subscription)) };
  }

  list(limit: number, afterName?: string): Promise<Subscription[]> {
    return this.store.list(limit, afterName);
  }

  async update(name: string, patch: UpdateSubscription, principal: Principal): Promise<Subscription> {
    const current = await this.access(name, principal);
    const spec = {
      ...specOf(current),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.filters ? { filters: patch.filters } : {}),
      ...(patch.delivery ? { delivery: patch.delivery } : {}),
      ...(patch.ackTimeoutSeconds ? { ackTimeoutSeconds: patch.ackTimeoutSeconds } : {}),
      ...(patch.maxDeliveries ? { maxDeliveries: patch.maxDeliveries } : {}),
    };
    const updated = await this.store.update(current.id, {
      spec,
      fingerprint: fingerprint(spec),
      ...(patch.status ? { status: patch.status } : {}),
    });
    if (!updated) throw notFound(`subscription ${name}`);
    if (patch.status === "active") this.broker.wake(updated.id);
    return updated;
  }

  async delete(name: string, principal: Principal): Promise<void> {
    const subscription = await this.access(name, principal);
    if (!(await this.store.delete(subscription.id))) throw notFound(`subscription ${name}`);
    this.credentials.forget(subscription.id);
  }

  async rotateToken(name: string, principal: Principal): Promise<string> {
    const subscription = await this.access(name, principal);
    const token = generateToken("subscription");
    if (!(await this.store.replaceToken(subscription.id, hashToken(token)))) throw notFound(`subscription ${name}`);
    this.credentials.forget(subscription.id);
    return token;
  }
}
