import { createInbox, errors, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";

const SWEEP_MS = 1_000;
const NO_RESPONDERS = 503;

export interface PubAck {
  seq: number;
  duplicate: boolean;
}

interface Waiting {
  resolve(ack: PubAck): void;
  reject(error: Error): void;
  sentAt: number;
}

/**
 * JetStream publishes with their acknowledgements gathered on one inbox subscription: a publish
 * is a core publish with a reply subject under the inbox, and the stream's answer (or the
 * server's 503 when nothing stores the subject) settles it. The client's own `js.publish` makes a
 * request object, a timer and, when done, an error with a stack trace for each message, which
 * was a sixth of the CPU of a busy producer; here one sweep times out what waits too long.
 */
export class PublishAcks {
  private readonly inbox = createInbox();
  private readonly waiting = new Map<string, Waiting>();
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    nc.subscribe(`${this.inbox}.*`, { callback: (error, msg) => (error ? this.failAll(error) : this.settle(msg)) });
    this.sweeper = setInterval(() => this.timeOut(), SWEEP_MS);
    this.sweeper.unref();
  }

  publish(subject: string, data: Uint8Array, msgId: string): Promise<PubAck> {
    const token = (this.next++).toString(36);
    const messageHeaders = headers();
    messageHeaders.set("Nats-Msg-Id", msgId);
    return new Promise<PubAck>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject, sentAt: Date.now() });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: messageHeaders });
      } catch (error) {
        this.waiting.delete(token);
        reject(error as Error);
      }
    });
  }

  /** Everything still waiting fails with `error` (the connection dropped: the producer answers 503, the client retries with the same ids). */
  failAll(error: Error): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const entry of waiting) entry.reject(error);
  }

  /** After the connection drained (which ends the subscription): nothing more will be answered. */
  close(): void {
    clearInterval(this.sweeper);
    this.failAll(new errors.ClosedConnectionError());
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const entry = this.waiting.get(token);
    if (!entry) return;
    this.waiting.delete(token);
    if (msg.headers?.code === NO_RESPONDERS) {
      entry.reject(new Error("no JetStream stream answered for this subject (is JetStream enabled and the stream there?)"));
      return;
    }
    try {
      const answer = msg.json<{ seq?: number; duplicate?: boolean; error?: { code: number; description: string } }>();
      if (answer.error) entry.reject(new Error(`JetStream refused the message: ${answer.error.description} (${answer.error.code})`));
      else if (typeof answer.seq !== "number") entry.reject(new Error("JetStream answered without a sequence"));
      else entry.resolve({ seq: answer.seq, duplicate: answer.duplicate === true });
    } catch (error) {
      entry.reject(error as Error);
    }
  }

  private timeOut(): void {
    const before = Date.now() - this.timeoutMs;
    // In the order sent: the first one still in time ends the sweep.
    for (const [token, entry] of this.waiting) {
      if (entry.sentAt > before) break;
      this.waiting.delete(token);
      entry.reject(new errors.TimeoutError());
    }
  }
}
