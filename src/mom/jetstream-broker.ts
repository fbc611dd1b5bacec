import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../core/config.js";
import type { Logger } from "../core/logger.js";
import type { Notification } from "../core/notifications/envelope.js";
import type { Broker, PublishResult, ReadOptions, StreamIdentity, StreamReader } from "./broker.js";
import { naming, partitionOf, type Naming } from "./naming.js";
import { OrderedStreamReader } from "./ordered-stream-reader.js";

const NANOS_PER_SECOND = 1_000_000_000;
const PUBLISH_TIMEOUT_MS = 10_000;
const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface JetStreamBrokerOptions {
  nats: Config["nats"];
  logger: Logger;
  connectionName: string;
}

/** The broker over NATS JetStream: one connection per process, shared by every service in it. */
export class JetStreamBroker implements Broker {
  private readonly encoder = new TextEncoder();
  private readonly readers = new Set<StreamReader>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: Naming,
    readonly partitions: number,
    private readonly logger: Logger,
  ) {}

  static async connect(options: JetStreamBrokerOptions): Promise<JetStreamBroker> {
    const { nats, logger } = options;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: nats.url,
        name: options.connectionName,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // A stack trace captured per request costs a tenth of the CPU of a busy publisher;
        // errors still say what failed, only without the caller's frames.
        noAsyncTraces: true,
      });
    } catch (error) {
      throw new Error(
        `cannot reach NATS at ${nats.url} (${(error as Error).message}); start nats-server with JetStream (-js) or set NATS_URL`,
      );
    }
    void logConnectionStatus(nc, logger);
    const jsm = await jetstreamManager(nc);
    const broker = new JetStreamBroker(nc, jetstream(nc), jsm, naming(nats.namespace), nats.partitions, logger);
    await broker.ensureStream(nats);
    return broker;
  }

  /** Creates the stream, or brings an existing one to this configuration; safe to run from every process. */
  private async ensureStream(nats: Config["nats"]): Promise<void> {
    const config: Partial<StreamConfig> & { name: string } = {
      name: this.names.notificationsStream,
      subjects: [this.names.notificationsFilter],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nats.streamMaxAgeHours * 3600 * NANOS_PER_SECOND,
      duplicate_window: nats.dedupWindowSeconds * NANOS_PER_SECOND,
      max_msg_size: MAX_MESSAGE_BYTES,
      num_replicas: 1,
    };
    const existing = await this.jsm.streams.info(this.names.notificationsStream).catch(() => undefined);
    if (!existing) {
      try {
        await this.jsm.streams.add(config);
        this.logger.info({ stream: config.name }, "stream created");
        return;
      } catch (error) {
        // Another process created it meanwhile: fall through to the update.
        if (!(await this.jsm.streams.info(this.names.notificationsStream).catch(() => undefined))) throw error;
      }
    }
    await this.jsm.streams.update(this.names.notificationsStream, config);
  }

  publish(notification: Notification): Promise<PublishResult> {
    const subject = this.names.notificationSubject(partitionOf(notification.subject, this.partitions));
    return this.js
      .publish(subject, this.encoder.encode(JSON.stringify(notification)), {
        msgID: notification.id,
        timeout: PUBLISH_TIMEOUT_MS,
      })
      .then((ack) => ({ id: notification.id, sequence: ack.seq, duplicate: ack.duplicate }));
  }

  async publishMany(notifications: readonly Notification[]): Promise<Array<PublishResult | Error>> {
    const settled = await Promise.allSettled(notifications.map((notification) => this.publish(notification)));
    return settled.map((result) =>
      result.status === "fulfilled" ? result.value : result.reason instanceof Error ? result.reason : new Error(String(result.reason)),
    );
  }

  async stream(): Promise<StreamIdentity> {
    const info = await this.jsm.streams.info(this.names.notificationsStream);
    return { name: info.config.name, created: info.created, firstSeq: info.state.first_seq, lastSeq: info.state.last_seq };
  }

  read(options: ReadOptions): StreamReader {
    const filter =
      options.partition === undefined ? this.names.notificationsFilter : this.names.notificationSubject(options.partition);
    const reader = new OrderedStreamReader(this.js, this.names.notificationsStream, filter, options, this.logger);
    this.readers.add(reader);
    return {
      stop: async () => {
        this.readers.delete(reader);
        await reader.stop();
      },
    };
  }

  wake(subscriptionId: string): void {
    if (!this.nc.isClosed()) this.nc.publish(this.names.wakeSubject(subscriptionId));
  }

  onWake(handler: (subscriptionId: string) => void): () => void {
    const prefixLength = this.names.wakeFilter.length - 1;
    const subscription = this.nc.subscribe(this.names.wakeFilter, {
      callback: (error, message) => {
        if (!error) handler(message.subject.slice(prefixLength));
      },
    });
    return () => subscription.unsubscribe();
  }

  requestPrefill(): void {
    if (!this.nc.isClosed()) this.nc.publish(this.names.prefillSubject);
  }

  onPrefillRequested(handler: () => void): () => void {
    const subscription = this.nc.subscribe(this.names.prefillSubject, { callback: (error) => (error ? undefined : handler()) });
    return () => subscription.unsubscribe();
  }

  requestCommandSend(): void {
    if (!this.nc.isClosed()) this.nc.publish(this.names.commandsSubject);
  }

  onCommandSendRequested(handler: () => void): () => void {
    const subscription = this.nc.subscribe(this.names.commandsSubject, { callback: (error) => (error ? undefined : handler()) });
    return () => subscription.unsubscribe();
  }

  async ping(): Promise<void> {
    if (this.nc.isClosed()) throw new Error("connection closed");
    await this.nc.flush();
  }

  /** Stops readers, then drains: buffered publishes are sent and subscriptions finish before the socket closes. */
  async close(): Promise<void> {
    await Promise.all([...this.readers].map((reader) => reader.stop()));
    this.readers.clear();
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

async function logConnectionStatus(nc: NatsConnection, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === "disconnect" || status.type === "reconnect" || status.type === "error") {
      logger.warn({ nats: status.type, server: "server" in status ? status.server : undefined }, "NATS connection status");
    }
  }
}
