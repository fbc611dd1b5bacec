import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Broker } from "../../src/mom/broker.js";
import type { DeliveryLedger, LeaseResult, LeasedMessage } from "../../src/mom/ledger/ledger.js";
import { PushPump, type PushPumpDeps } from "../../src/consumer/messages/push/push-pump.js";
import type { PushStore } from "../../src/consumer/messages/push/push-store.js";
import { generateSecret } from "../../src/consumer/messages/push/signature.js";
import { RetryPolicy } from "../../src/consumer/messages/push/retry-policy.js";
import type { WebhookClient } from "../../src/consumer/messages/push/webhook-client.js";
import { WakeHub } from "../../src/consumer/messages/wake-hub.js";
import type { Subscription } from "../../src/consumer/subscriptions/subscription.js";
import { eventually } from "../support/eventually.js";

/** A counter, histogram or gauge that records nothing. */
const inert: unknown = new Proxy(() => inert, { get: () => inert, apply: () => inert });

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

const subscription = {
  id: "0190a000-0000-7000-8000-000000000001",
  name: "push-unit",
  description: null,
  filters: [{ types: ["*"] }],
  prefill: false,
  delivery: { mode: "push", url: "http://127.0.0.1:9/hook", format: "envelope" },
  ackTimeoutSeconds: 30,
  maxDeliveries: 5,
  fingerprint: "f",
  status: "active",
  statusReason: null,
  startSeq: 1,
  failingSince: null,
  prefillState: { enabled: false, status: null, total: null, sent: null, position: null, error: null },
  createdAt: new Date(),
  updatedAt: new Date(),
} as unknown as Subscription;

const message: LeasedMessage = {
  ackId: { phase: "live", seq: 1, deliveryCount: 1 },
  sequence: 1,
  deliveryCount: 1,
  phase: "live",
  notificationJson: JSON.stringify({ id: "0190a000-0000-7000-8000-0000000000aa", type: "certificate.issued" }),
};

describe("the push pump", () => {
  let pump: PushPump | undefined;
  let hub: WakeHub | undefined;
  afterEach(async () => {
    hub?.close();
    await pump?.stop();
  });

  /** A pump of one slot over the given ledger and client, with a store that records nothing. */
  function startPump(ledger: DeliveryLedger, client: WebhookClient, scheduleSeconds: number[]): void {
    const store = { recordAttempts: async () => {}, failing: async () => new Date(), recovered: async () => {}, disable: async () => {} } as unknown as PushStore;
    hub = new WakeHub({ onWake: () => () => {} } as unknown as Broker);
    const deps: PushPumpDeps = {
      ledger,
      hub,
      store,
      client,
      policy: new RetryPolicy({ scheduleSeconds, retryAfterMaxSeconds: 1, jitter: 0 }),
      metrics: inert as PushPumpDeps["metrics"],
      tracing: inert as PushPumpDeps["tracing"],
      logger: pino({ level: "silent" }),
    };
    pump = new PushPump({ subscription, secrets: [{ secret: generateSecret(), expiresAt: null }] } as never, deps, {
      timeoutSeconds: 1,
      concurrency: 1,
      disableAfterSeconds: 3600,
      allowPrivate: true,
      userAgent: "test",
    });
  }

  it("looks again at once when a delivery's outcome is written while it leases, rather than at the next lease expiry", async () => {
    const leases: Array<ReturnType<typeof deferred<LeaseResult>>> = [];
    let nacks = 0;
    const ledger = {
      lease: () => {
        const next = deferred<LeaseResult>();
        leases.push(next);
        if (leases.length === 1) next.resolve({ messages: [message], deadLettered: 0 });
        return next.promise;
      },
      nack: async () => {
        nacks++;
        return [{ status: "pending" }];
      },
    } as unknown as DeliveryLedger;
    startPump(ledger, {
      post: () => new Promise((resolve) => setImmediate(() => resolve({ kind: "response", status: 503, retryAfter: undefined, latencyMs: 1, excerpt: "" }))),
      close: () => {},
    }, [0, 0, 0, 0, 0]);

    // The second lease is in flight while the failed attempt's retry is written...
    await eventually(() => expect(leases.length).toBe(2));
    await eventually(() => expect(nacks).toBe(1));
    // ...and it answers what it read before that: nothing available until the lease runs out.
    leases[1]!.resolve({ messages: [], deadLettered: 0, nextAvailableAt: new Date(Date.now() + 60_000) });
    await eventually(() => expect(leases.length, "leases so far").toBe(3), { timeoutMs: 3_000 });
    leases[2]!.resolve({ messages: [], deadLettered: 0 });
  });

  it("leases again at once when a lease only cleared heads, rather than sleeping until its idle look", async () => {
    let leases = 0;
    const posted: string[] = [];
    const ledger = {
      lease: async (): Promise<LeaseResult> => {
        leases++;
        if (leases === 1) return { messages: [], deadLettered: 10, more: true };
        if (leases === 2) return { messages: [message], deadLettered: 0 };
        return { messages: [], deadLettered: 0 };
      },
      ack: async () => [{ status: "acked" }],
    } as unknown as DeliveryLedger;
    startPump(ledger, {
      post: async (request) => {
        posted.push(String(request));
        return { kind: "response", status: 204, retryAfter: undefined, latencyMs: 1, excerpt: "" };
      },
      close: () => {},
    }, [0]);

    await eventually(() => expect(posted, "the message behind the cleared heads was pushed").toHaveLength(1), { timeoutMs: 3_000 });
  });
});
