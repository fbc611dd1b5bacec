import type { ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "../core/logger.js";
import { Outage } from "../core/outage.js";
import type { ReadOptions, StreamMessage, StreamReader } from "./broker.js";

/** Short heartbeats, so a consumer lost without a reconnect being noticed is re-created within seconds. */
const IDLE_HEARTBEAT_MS = 2_000;
const PULL_EXPIRES_MS = 10_000;
/** Heartbeats missed in a row before the reader makes a new consumer itself (e.g. its server was lost). */
const MISSED_HEARTBEATS_LIMIT = 2;

/**
 * Reads a stream in order through a JetStream ordered consumer. The client library checks
 * every delivery sequence and recreates the consumer at the right place after a gap or a
 * reconnect, so the handler sees each message once, in stream order, with no hole. The caller
 * keeps its position transactionally with its own effects (the exactly-once pattern of a sink),
 * which is why no server-side acknowledgement state is needed.
 *
 * Batches form by themselves: while one batch is handled, arriving messages queue up (up to
 * twice the batch size, then the reader stops pulling), and the next batch is whatever queued.
 */
export class OrderedStreamReader implements StreamReader {
  private stopped = false;
  private nextSeq: number;
  private messages: ConsumerMessages | undefined;
  private wakeSleeper: (() => void) | undefined;
  private readonly finished: Promise<void>;
  private readonly reading: Outage;
  private readonly handling: Outage;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly filter: string,
    private readonly options: ReadOptions,
    private readonly logger: Logger,
  ) {
    this.nextSeq = options.fromSeq;
    this.reading = new Outage(logger.child({ reader: options.name }), "stream reader");
    this.handling = new Outage(logger.child({ reader: options.name }), "stream batch");
    this.finished = this.run();
  }

  /**
   * When the server holding the (single-replica, ephemeral) consumer goes away in a cluster, the
   * client may keep waiting on it; after missed heartbeats the reader starts over from its own
   * position on a new consumer, which lands on a live server.
   */
  private async restartWhenSilent(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      if (status.type === "heartbeats_missed" && status.count >= MISSED_HEARTBEATS_LIMIT) {
        this.logger.warn({ reader: this.options.name, missed: status.count }, "stream reader heard nothing from its consumer; making a new one");
        messages.stop();
        return;
      }
    }
  }
  /**
   * After NATS reconnects the server may have lost the ephemeral consumer (a restart): the
   * reader drops it and makes a new one at its position at once rather than waiting for
   * missed heartbeats to tell.
   */
  reattach(): void {
    this.messages?.stop();
    this.wakeSleeper?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    this.wakeSleeper?.();
    await this.finished;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let delayMs: number;
      try {
        await this.readUntilInterrupted();
        delayMs = 0;
      } catch (error) {
        delayMs = this.reading.failed(error, { nextSeq: this.nextSeq });
      }
      if (!this.stopped && delayMs > 0) await this.sleep(delayMs);
    }
  }

  private async readUntilInterrupted(): Promise<void> {
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: this.filter, opt_start_seq: this.nextSeq });
    const messages = await consumer.consume({
      max_messages: this.options.maxBatch,
      idle_heartbeat: IDLE_HEARTBEAT_MS,
      expires: PULL_EXPIRES_MS,
    });
    this.reading.succeeded();
    void this.restartWhenSilent(messages);
    this.messages = messages;
    if (this.stopped) messages.stop();
    const queue = new BatchQueue(this.options.maxBatch * 2);
    const handling = this.handleQueued(queue, messages);
    try {
      for await (const message of messages) {
        await queue.push({ seq: message.seq, data: message.data });
      }
    } finally {
      queue.end();
      await handling;
    }
  }

  /** Hands queued messages to the handler in batches; on stop, the batch in hand finishes and the rest waits for the next start. */
  private async handleQueued(queue: BatchQueue, messages: ConsumerMessages): Promise<void> {
    for (;;) {
      const batch = await queue.take(this.options.maxBatch);
      if (batch.length === 0 || this.stopped) break;
      if (!(await this.handleWithRetry(batch))) break;
      this.nextSeq = batch[batch.length - 1]!.seq + 1;
    }
    queue.end();
    messages.stop();
  }

  private async handleWithRetry(batch: StreamMessage[]): Promise<boolean> {
    while (!this.stopped) {
      try {
        await this.options.handle(batch);
        this.handling.succeeded();
        return true;
      } catch (error) {
        await this.sleep(this.handling.failed(error, { fromSeq: batch[0]!.seq, toSeq: batch[batch.length - 1]!.seq }));
      }
    }
    return false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeSleeper = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** A bounded queue between the stream and the handler: `push` waits while it is full, `take` while it is empty. */
class BatchQueue {
  private readonly items: StreamMessage[] = [];
  private ended = false;
  private itemsArrived: (() => void) | undefined;
  private spaceFreed: (() => void) | undefined;

  constructor(private readonly capacity: number) {}

  async push(item: StreamMessage): Promise<void> {
    while (this.items.length >= this.capacity && !this.ended) {
      await new Promise<void>((resolve) => (this.spaceFreed = resolve));
    }
    if (this.ended) return;
    this.items.push(item);
    this.itemsArrived?.();
  }

  /** Waits for at least one item, then returns up to `max`; an empty batch means the queue ended. */
  async take(max: number): Promise<StreamMessage[]> {
    while (this.items.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => (this.itemsArrived = resolve));
    }
    if (this.ended && this.items.length === 0) return [];
    const batch = this.items.splice(0, max);
    this.spaceFreed?.();
    return batch;
  }

  end(): void {
    this.ended = true;
    this.itemsArrived?.();
    this.spaceFreed?.();
  }
}
