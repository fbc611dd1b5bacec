import { AppError } from "../../core/errors.js";
import type { Metrics } from "../../core/metrics.js";
import type { Broker } from "../../mom/broker.js";
import type {
  AckId,
  DeadLetter,
  DeadLetterCursor,
  DeliveryLedger,
  LeasedMessage,
  Phase,
  SettleOutcome,
} from "../../mom/ledger/ledger.js";
import { leaseTarget, type Subscription } from "../subscriptions/subscription.js";
import type { WakeHub } from "./wake-hub.js";

/** Pull delivery: leases with long-poll, and the settling of leases. */
export class Messages {
  constructor(
    private readonly ledger: DeliveryLedger,
    private readonly hub: WakeHub,
    private readonly broker: Broker,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Returns as soon as at least one message is available, or an empty list once `waitSeconds`
   * have passed and nothing is (a lease still clearing dead or skipped heads goes on past it).
   * Waits on wake-ups, and on a timer for the next message coming out of a nack delay or an
   * expired lease; never polls.
   */
  async pull(subscription: Subscription, max: number, waitSeconds: number, signal?: AbortSignal): Promise<LeasedMessage[]> {
    assertDeliverable(subscription);
    const target = leaseTarget(subscription);
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      if (signal?.aborted) {
        // The client left, perhaps right after this pull was woken: another waiting one looks instead.
        this.hub.passOn(subscription.id);
        return [];
      }
      const seen = this.hub.generation(subscription.id);
      let leased;
      try {
        leased = await this.ledger.lease(target, max);
      } catch (error) {
        // This pull may have been the one woken: another waiting one looks instead.
        this.hub.passOn(subscription.id);
        throw error;
      }
      const { messages, deadLettered, nextAvailableAt: next, more } = leased;
      if (deadLettered > 0) this.metrics.messagesDeadLettered.inc({ reason: "max_deliveries" }, deadLettered);
      if (messages.length > 0) {
        // A full batch may have left more behind: the next waiting pull looks too.
        if (messages.length === max) this.hub.passOn(subscription.id);
        this.metrics.messagesDelivered.inc({ mode: "pull" }, messages.length);
        return messages;
      }
      // Each lease that clears heads finishes rows, so this ends; an empty answer would tell the
      // subscriber nothing is there while messages wait behind the rows being cleared.
      if (more && !this.hub.isClosed) continue;
      if (Date.now() >= deadline || this.hub.isClosed) return [];
      this.metrics.longPollsWaiting.inc();
      try {
        await this.hub.wait(subscription.id, seen, Math.min(deadline, next ? next.getTime() + 5 : deadline), signal);
      } finally {
        this.metrics.longPollsWaiting.dec();
      }
    }
  }

  /** Settles the previous batch, then pulls the next: a paused subscription refuses before anything is acked. */
  async ackThenPull(
    subscription: Subscription,
    ackIds: AckId[],
    max: number,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<{ acked: SettleOutcome[]; messages: LeasedMessage[] }> {
    assertDeliverable(subscription);
    const acked = ackIds.length > 0 ? await this.settleAcks(subscription, ackIds) : [];
    let messages: LeasedMessage[] | undefined;
    try {
      messages = await this.pull(subscription, max, waitSeconds, signal);
      return { acked, messages };
    } finally {
      // A pull that did not fill up leased every message the acks freed: only otherwise may other pulls find some.
      const leasedAllFreed = messages !== undefined && messages.length < max && !signal?.aborted;
      if (acked.length > 0 && !leasedAllFreed) this.broker.wake(subscription.id);
    }
  }

  async ack(subscription: Subscription, ackIds: AckId[]): Promise<SettleOutcome[]> {
    const outcomes = await this.settleAcks(subscription, ackIds);
    this.broker.wake(subscription.id);
    return outcomes;
  }

  private async settleAcks(subscription: Subscription, ackIds: AckId[]): Promise<SettleOutcome[]> {
    const outcomes = await this.ledger.ack(subscription.id, ackIds);
    this.metrics.messagesAcked.inc(count(outcomes, "acked"));
    return outcomes;
  }

  async nack(subscription: Subscription, ackIds: AckId[], delaySeconds: number): Promise<SettleOutcome[]> {
    const outcomes = await this.ledger.nack(
      leaseTarget(subscription),
      ackIds.map((ackId) => ({ ackId, delaySeconds })),
    );
    this.metrics.messagesDeadLettered.inc({ reason: "max_deliveries" }, count(outcomes, "dead_lettered"));
    this.broker.wake(subscription.id);
    return outcomes;
  }

  async reject(subscription: Subscription, ackIds: AckId[]): Promise<SettleOutcome[]> {
    const outcomes = await this.ledger.reject(subscription.id, ackIds);
    this.metrics.messagesDeadLettered.inc({ reason: "rejected" }, count(outcomes, "dead_lettered"));
    this.broker.wake(subscription.id);
    return outcomes;
  }

  deadLetters(subscription: Subscription, limit: number, after?: DeadLetterCursor): Promise<DeadLetter[]> {
    return this.ledger.deadLetters(subscription.id, limit, after);
  }

  async redrive(subscription: Subscription, only?: Array<{ phase: Phase; sequence: number }>): Promise<number> {
    const redriven = await this.ledger.redrive(subscription.id, only);
    if (redriven > 0) this.broker.wake(subscription.id);
    return redriven;
  }
}

function assertDeliverable(subscription: Subscription): void {
  if (subscription.status === "paused") {
    throw new AppError("conflict", `subscription ${subscription.name} is paused; PATCH its status to active to receive messages`);
  }
  if (subscription.status === "disabled") {
    throw new AppError("conflict", `subscription ${subscription.name} is disabled (${subscription.statusReason ?? "no reason given"})`);
  }
}

function count(outcomes: SettleOutcome[], status: SettleOutcome["status"]): number {
  return outcomes.filter((outcome) => outcome.status === status).length;
}
