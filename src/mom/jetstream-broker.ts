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
import { randomUUID } from "node:crypto";
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../core/config.js";
import type { Logger } from "../core/logger.js";
import type { Notification } from "../core/notifications/envelope.js";
import type { Broker, PublishResult, ReadOptions, StreamClusterState, StreamIdentity, StreamReader } from "./broker.js";
import { naming, partitionOf, type Naming } from "./naming.js";
import { OrderedStreamReader } from "./ordered-stream-reader.js";
import { PublishAcks } from "./publish-acks.js";

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
  private readonly readers = new Set<OrderedStreamReader>();
  private readonly wakeHandlers = new Set<(subscriptionId: string) => void>();
  /** Tells this process's own wake-ups apart when NATS echoes them back. */
  private readonly wakeSender = this.encoder.encode(randomUUID());
  private connected = true;
  private readonly acks: PublishAcks;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: Naming,
    readonly partitions: number,
    private readonly logger: Logger,
    private readonly replicas: number,
  ) {
    this.acks = new PublishAcks(nc, PUBLISH_TIMEOUT_MS);
  }

  static async connect(options: JetStreamBrokerOptions): Promise<JetStreamBroker> {
    const { nats, logger } = options;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: nats.servers,
        name: options.connectionName,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // A stack trace captured per request costs a tenth of the CPU of a busy publisher;
        // errors still say what failed, only without the caller's frames.
        noAsyncTraces: true,
      });
    } catch (error) {
      throw new Error(
        `cannot reach NATS at ${nats.servers.join(",")} (${(error as Error).message}); start nats-server with JetStream (-js) or set NATS_URL`,
      );
    }
    const jsm = await jetstreamManager(nc);
    const broker = new JetStreamBroker(nc, jetstream(nc), jsm, naming(nats.namespace), nats.partitions, logger, nats.replicas);
    void broker.followConnectionStatus();
    broker.streamCreated = await broker.ensureStream(nats);
    return broker;
  }

  /**
   * When the connection drops, publishes in flight fail at once instead of at their timeout, and
   * while disconnected new ones do too (the producer answers 503 and the client retries with the
   * same id); on reconnect every reader re-creates its consumer at once.
   */
  private async followConnectionStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect" || status.type === "error") {
        this.logger.warn({ nats: status.type, server: "server" in status ? status.server : undefined }, "NATS connection status");
      }
      if (status.type === "disconnect" && this.connected) {
        this.connected = false;
        this.acks.failAll(new errors.ConnectionError("the NATS connection was lost"));
      } else if (status.type === "reconnect") {
        this.connected = true;
        for (const reader of this.readers) reader.reattach();
      }
    }
  }

  /** Whether this process created the notifications stream (first start-up), for the start-up report. */
  streamCreated = false;

  /**
   * Creates the stream, or brings an existing one to this configuration where JetStream allows
   * it (replicas, max age, duplicate window); safe to run from every process. What cannot change
   * in place (subjects, storage, the partition count) stops start-up with what to do instead.
   * Says whether this process created it.
   */
  private async ensureStream(nats: Config["nats"]): Promise<boolean> {
    const config: Partial<StreamConfig> & { name: string } = {
      name: this.names.notificationsStream,
      description: partitionsDescription(nats.partitions),
      subjects: [this.names.notificationsFilter],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nats.streamMaxAgeHours * 3600 * NANOS_PER_SECOND,
      duplicate_window: nats.dedupWindowSeconds * NANOS_PER_SECOND,
      max_msg_size: MAX_MESSAGE_BYTES,
      num_replicas: nats.replicas,
    };
    let existing = await this.jsm.streams.info(this.names.notificationsStream).catch(() => undefined);
    if (!existing) {
      try {
        await this.jsm.streams.add(config);
        this.logger.info({ stream: config.name, replicas: nats.replicas }, "stream created");
        await this.checkReplicas(nats.replicas);
        return true;
      } catch (error) {
        // Another process created it meanwhile: fall through to the update.
        existing = await this.jsm.streams.info(this.names.notificationsStream).catch(() => undefined);
        if (!existing) throw new Error(`cannot create NATS stream ${config.name} with ${nats.replicas} replica(s): ${(error as Error).message}${replicasHint(nats.replicas)}`);
      }
    }
    const refusal = unchangeable(existing.config, config, nats.partitions);
    if (refusal) throw new Error(`NATS stream ${config.name} cannot be brought to this configuration: ${refusal}`);
    const changes = changedSettings(existing.config, config);
    if (changes.length === 0) return false;
    await this.updateStream(config, existing.config, changes, nats.replicas);
    await this.checkReplicas(nats.replicas);
    return false;
  }

  /** A server outside a cluster accepts more replicas and keeps one copy: say so rather than run on one copy unknowingly. */
  private async checkReplicas(wanted: number): Promise<void> {
    const info = await this.jsm.streams.info(this.names.notificationsStream);
    if (info.config.num_replicas !== wanted) {
      throw new Error(`NATS stream ${info.config.name} has ${info.config.num_replicas} replica(s), not ${wanted}${replicasHint(wanted)}`);
    }
    // Peers are listed (current or not) once placed; a lone server lists none.
    const peers = info.cluster?.replicas?.length ?? 0;
    if (wanted > 1 && (!info.cluster?.name || peers < wanted - 1)) {
      throw new Error(`NATS stream ${info.config.name} asks for ${wanted} replicas, but ${peers + 1} server(s) hold it${replicasHint(wanted)}`);
    }
  }

  private async updateStream(config: Partial<StreamConfig> & { name: string }, existing: StreamConfig, changes: string[], replicas: number): Promise<void> {
    try {
      await this.jsm.streams.update(this.names.notificationsStream, { ...config, description: existing.description ?? config.description });
    } catch (error) {
      throw new Error(`cannot update NATS stream ${config.name} (${changes.join(", ")}): ${(error as Error).message}${replicasHint(replicas)}`);
    }
    this.logger.warn({ stream: config.name, changes }, "stream configuration updated");
  }

  publish(notification: Notification): Promise<PublishResult> {
    if (!this.connected || this.nc.isClosed()) {
      return Promise.reject(new errors.ConnectionError("not connected to NATS; reconnecting"));
    }
    const subject = this.names.notificationSubject(partitionOf(notification.subject, this.partitions));
    return this.acks
      .publish(subject, this.encoder.encode(JSON.stringify(notification)), notification.id)
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

  /**
   * Waiting pulls in this process are woken at once, without the round trip through the NATS
   * server; other processes hear it over NATS, and this process skips its own echo.
   */
  wake(subscriptionId: string): void {
    for (const handler of this.wakeHandlers) handler(subscriptionId);
    if (!this.nc.isClosed()) this.nc.publish(this.names.wakeSubject(subscriptionId), this.wakeSender);
  }

  onWake(handler: (subscriptionId: string) => void): () => void {
    const prefixLength = this.names.wakeFilter.length - 1;
    this.wakeHandlers.add(handler);
    const subscription = this.nc.subscribe(this.names.wakeFilter, {
      callback: (error, message) => {
        if (!error && !sameBytes(message.data, this.wakeSender)) handler(message.subject.slice(prefixLength));
      },
    });
    return () => {
      this.wakeHandlers.delete(handler);
      subscription.unsubscribe();
    };
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
    if (!this.connected) throw new Error("disconnected; reconnecting");
    await this.nc.flush();
  }

  async clusterState(): Promise<StreamClusterState> {
    const info = await this.jsm.streams.info(this.names.notificationsStream);
    const cluster = info.cluster;
    const leader = cluster?.leader ?? (this.replicas === 1 ? this.nc.info?.server_name ?? null : null);
    if (!leader) throw new Error(`stream ${info.config.name} has no leader (too few NATS servers up for its ${info.config.num_replicas} replicas)`);
    return {
      stream: info.config.name,
      replicas: { wanted: this.replicas, configured: info.config.num_replicas },
      connectedServer: this.nc.info?.server_name ?? null,
      cluster: cluster?.name ?? null,
      leader,
      peers: (cluster?.replicas ?? []).map((peer) => ({ name: peer.name, current: peer.current, offline: peer.offline, lag: peer.lag ?? 0 })),
    };
  }

  /** Stops readers, then drains: buffered publishes are sent and subscriptions finish before the socket closes. */
  async close(): Promise<void> {
    await Promise.all([...this.readers].map((reader) => reader.stop()));
    this.readers.clear();
    if (!this.nc.isClosed()) await this.nc.drain();
    this.acks.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

const partitionsDescription = (partitions: number) => `certflow notifications; partitions=${partitions}`;

/** What JetStream cannot change in place, or certflow must not: positions and routing depend on them. */
function unchangeable(existing: StreamConfig, wanted: Partial<StreamConfig>, partitions: number): string | undefined {
  const made = /partitions=(\d+)/.exec(existing.description ?? "")?.[1];
  if (made && Number(made) !== partitions) {
    return `it was made with ${made} partitions and CERTFLOW_PARTITIONS is ${partitions}; set CERTFLOW_PARTITIONS=${made}, or use a new CERTFLOW_NAMESPACE and database for a new partition count`;
  }
  if (JSON.stringify(existing.subjects) !== JSON.stringify(wanted.subjects)) {
    return `its subjects are ${JSON.stringify(existing.subjects)}, certflow needs ${JSON.stringify(wanted.subjects)}; use another CERTFLOW_NAMESPACE`;
  }
  if (existing.storage !== wanted.storage) return `its storage is ${existing.storage}, certflow needs file storage; move it or use another CERTFLOW_NAMESPACE`;
  if (existing.retention !== wanted.retention) return `its retention policy is ${existing.retention}, certflow needs limits; use another CERTFLOW_NAMESPACE`;
  return undefined;
}

function changedSettings(existing: StreamConfig, wanted: Partial<StreamConfig>): string[] {
  const keys = ["num_replicas", "max_age", "duplicate_window", "max_msg_size", "discard"] as const;
  return keys.filter((key) => existing[key] !== wanted[key]).map((key) => `${key} ${existing[key]} -> ${wanted[key]}`);
}

function replicasHint(replicas: number): string {
  return replicas > 1 ? `; ${replicas} replicas need a NATS cluster of at least ${replicas} JetStream servers (or set CERTFLOW_STREAM_REPLICAS=1)` : "";
}
