import type { ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "../core/logger.js";
import type { ReadOptions, StreamMessage, StreamReader } from "./broker.js";

const MAX_BACKOFF_MS = 5_000;
/** Pull requests expire this often; the server heart-beats at half of it, so a lost consumer shows within seconds. */
const PULL_EXPIRES_MS = 5_000;
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

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly filter: string,
    private readonly options: ReadOptions,
    private readonly logger: Logger,
  ) {
    this.nextSeq = options.fromSeq;
    this.finished = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    this.wakeSleeper?.();
    await this.finished;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        await this.readUntilInterrupted();
        failures = 0;
      } catch (error) {
        failures++;
        this.logger.warn({ reader: this.options.name, err: error, failures }, "stream reader interrupted; resuming");
      }
      if (!this.stopped) await this.sleep(backoff(failures));
    }
  }

  private async readUntilInterrupted(): Promise<void> {
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: this.filter, opt_start_seq: this.nextSeq });
    const messages = await consumer.consume({ max_messages: this.options.maxBatch, expires: PULL_EXPIRES_MS });
    this.messages = messages;
    if (this.stopped) messages.stop();
    void this.restartWhenSilent(messages);
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
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.options.handle(batch);
        return true;
      } catch (error) {
        this.logger.error(
          { reader: this.options.name, err: error, attempt, fromSeq: batch[0]!.seq, toSeq: batch[batch.length - 1]!.seq },
          "batch failed; retrying",
        );
        await this.sleep(backoff(attempt));
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

function backoff(attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.max(0, attempt - 1));
}
