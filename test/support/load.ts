import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import type { Api } from "./api.js";
import { ack, issued, pull, type PulledMessage } from "./fixtures.js";

/**
 * Producers posting through an outage as a well-behaved client does: one poster per subject,
 * each notification with its own id, a 503 retried with the same id until it is accepted. It
 * records what was accepted, per subject in order, and every answer that was neither.
 */
export class OutageLoad {
  readonly accepted = new Map<string, string[]>();
  unavailable = 0;
  readonly unexpected: string[] = [];
  private running = true;
  private readonly posters: Promise<void>[];

  constructor(
    private readonly api: Api,
    private readonly producerToken: string,
    subjects: number,
  ) {
    this.posters = Array.from({ length: subjects }, (_, index) => this.post(`outage-cert-${index}`));
  }

  get acceptedCount(): number {
    let total = 0;
    for (const ids of this.accepted.values()) total += ids.length;
    return total;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.posters);
  }

  private async post(subject: string): Promise<void> {
    const ids: string[] = [];
    this.accepted.set(subject, ids);
    for (let version = 1; this.running; version++) {
      const id = randomUUID();
      const notification = issued(subject, { version }, { id });
      // Once posted, a notification is retried until accepted, so every one started is accounted for.
      for (;;) {
        const response = await this.api.post("/v1/notifications", notification, this.producerToken).catch((error: Error) => error);
        if (response instanceof Error) {
          this.unexpected.push(`no answer: ${response.message}`);
          continue;
        }
        if (response.status === 202) {
          ids.push(id);
          break;
        }
        if (response.status === 503 && response.body?.code === "unavailable" && response.headers.get("retry-after")) {
          this.unavailable++;
          continue;
        }
        this.unexpected.push(`${response.status} ${JSON.stringify(response.body)}`);
      }
    }
  }
}

/** Pulls and acks until every accepted notification arrived; then checks each came once, in its subject's order. */
export async function expectDeliveredOnceInOrder(
  api: Api,
  subscription: { name: string; token: string },
  accepted: Map<string, string[]>,
  eventually: (check: () => Promise<unknown>, options?: { timeoutMs?: number }) => Promise<unknown>,
  timeoutMs = 60_000,
): Promise<void> {
  const expected = [...accepted.values()].reduce((sum, ids) => sum + ids.length, 0);
  const received: PulledMessage[] = [];
  await eventually(
    async () => {
      const batch = await pull(api, subscription.name, subscription.token, "max=500&wait=1");
      received.push(...batch);
      await ack(api, subscription.name, subscription.token, batch);
      expect(received.length).toBeGreaterThanOrEqual(expected);
    },
    { timeoutMs },
  );
  const ids = received.map((message) => message.notification.id);
  expect(new Set(ids).size, "no duplicates").toBe(ids.length);
  const bySubject = new Map<string, string[]>();
  for (const message of received) {
    const list = bySubject.get(message.notification.subject) ?? [];
    list.push(message.notification.id);
    bySubject.set(message.notification.subject, list);
  }
  for (const [subject, ids] of accepted) expect(bySubject.get(subject) ?? [], `order of ${subject}`).toEqual(ids);
}
