import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type PubAck,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Notification } from "../../src/core/notifications/envelope.js";
import { naming, partitionOf, type Naming } from "../../src/mom/naming.js";
import { deferCleanup } from "../lib/cleanup.js";
import { NATS_URL } from "../lib/env.js";

const NANOS_PER_SECOND = 1_000_000_000;
/** certflow's default CERTFLOW_PARTITIONS: the baseline spreads messages over the same subjects. */
export const PARTITIONS = 8;

/**
 * The raw JetStream side of every comparison: a stream configured as certflow configures its
 * own (file storage, limits retention, 600 s duplicate window, 1 MiB messages), published to
 * with `js.publish` and the notification id as msgID, read by durable pull consumers with
 * explicit acks. It runs in the bench process, the same kind of client process that drives
 * certflow over HTTP.
 */
export class RawJetStream {
  private readonly encoder = new TextEncoder();
  private readonly consumers = new Set<ConsumerMessages>();
  private readonly undo: () => Promise<void>;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly names: Naming,
  ) {
    this.undo = deferCleanup(async () => {
      for (const messages of this.consumers) messages.stop();
      await this.jsm.streams.delete(this.names.notificationsStream).catch(() => false);
      if (!this.nc.isClosed()) await this.nc.close();
    });
  }

  static async open(namespace: string): Promise<RawJetStream> {
    // The same client options as certflow's broker (no per-request stack traces), so only certflow's own work differs.
    const nc = await connect({ servers: NATS_URL, name: `certflow-bench-baseline[${namespace}]`, noAsyncTraces: true });
    const raw = new RawJetStream(nc, jetstream(nc), await jetstreamManager(nc), naming(namespace));
    await raw.jsm.streams.add({
      name: raw.names.notificationsStream,
      subjects: [raw.names.notificationsFilter],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: 24 * 7 * 3600 * NANOS_PER_SECOND,
      duplicate_window: 600 * NANOS_PER_SECOND,
      max_msg_size: 1024 * 1024,
      num_replicas: 1,
    });
    return raw;
  }

  get stream(): string {
    return this.names.notificationsStream;
  }

  /** Publishes one envelope as certflow's broker does: JSON, partition subject, id as msgID. */
  publish(envelope: Notification): Promise<PubAck> {
    const subject = this.names.notificationSubject(partitionOf(envelope.subject, PARTITIONS));
    return this.js.publish(subject, this.encoder.encode(JSON.stringify(envelope)), { msgID: envelope.id, timeout: 10_000 });
  }

  /** Pipelined: every publish of the batch is in flight at once, then all acks are awaited. */
  async publishMany(envelopes: readonly Notification[]): Promise<void> {
    const acks = await Promise.all(envelopes.map((envelope) => this.publish(envelope)));
    const duplicates = acks.filter((ack) => ack.duplicate).length;
    if (duplicates > 0) throw new Error(`${duplicates} publishes were answered as duplicates`);
  }

  /** A durable pull consumer over the whole stream, explicit acks, from the first message. */
  async addDurable(name: string): Promise<void> {
    await this.jsm.consumers.add(this.stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
  }

  /** Pull-consumes a durable (batches of `maxMessages`), calling `onMessage` for each; the handler acks. */
  async consume(name: string, maxMessages: number, onMessage: (message: JsMsg) => void): Promise<{ stop(): Promise<void> }> {
    const consumer = await this.js.consumers.get(this.stream, name);
    const messages = await consumer.consume({ max_messages: maxMessages });
    this.consumers.add(messages);
    const loop = (async () => {
      for await (const message of messages) onMessage(message);
    })();
    return {
      stop: async () => {
        messages.stop();
        this.consumers.delete(messages);
        await loop;
      },
    };
  }

  /** Deletes the stream (and its consumers) and closes the connection. */
  destroy(): Promise<void> {
    return this.undo();
  }
}
