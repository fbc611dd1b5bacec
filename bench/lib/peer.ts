import { chunk } from "./measure.js";
import { makeInputs, notificationInput, type NotificationInput } from "./payload.js";
import { closedLoop, progress } from "./progress.js";
import { LatencyTracker, runSteady, type SteadyLatency } from "./steady-rate.js";
import { sleep } from "./system-process.js";
import { Tally } from "./tally.js";
import { cpuBetween, cpuSnapshot } from "./cpu.js";

/** A published notification, as the system reported it back. */
export interface Published {
  id: string;
  subject: string;
}

export interface ConsumerEvents {
  /** A message was handed to subscription `index`'s consumer. */
  received(index: number, id: string, subject: string, at: number): void;
  /** The system confirmed the acknowledgement of these messages. */
  acked(index: number, messages: readonly Published[], at: number): void;
}

/**
 * One system the peers benchmark drives with the same client loop: a producer publishing
 * batches of the same notifications, and one consumer per subscription that takes what it is
 * handed and acknowledges it.
 */
export interface QueuePeer {
  readonly name: string;
  /** Processes whose CPU is reported beside the shared ones (PostgreSQL, nats-server, the bench client). */
  readonly pids: Record<string, number | undefined>;
  publish(inputs: readonly NotificationInput[]): Promise<Published[]>;
  /** Starts every subscription's consumer; the returned function stops them and waits for them. */
  consume(events: ConsumerEvents): Promise<() => Promise<void>>;
  /** PostgreSQL rows inserted, updated and deleted by this system so far; stops it first (backends report on exit). */
  rowsWritten?(): Promise<number>;
  close(): Promise<void>;
}

export type PeerFactory = (subscriptions: number) => Promise<QueuePeer>;

export interface ThroughputResult {
  rate: number;
  ms: number;
  exactlyOnce: boolean;
  perSubscription: ReturnType<Tally["check"]>[];
  cpu: Record<string, string>;
  /** PostgreSQL rows written per delivery over the whole run (warm-up included), where the peer keeps them there. */
  rowsPerDelivery?: number;
}

export interface ThroughputOptions {
  subscriptions: number;
  notifications: number;
  batchSize: number;
  batchesInFlight: number;
  warmup: number;
  timeoutMs: number;
}

/**
 * Accept to pulled-and-acked: batches posted in a closed loop while every consumer takes and
 * acks; timed from the first publish to the ack that completes the last subscription.
 */
export async function throughputRun(open: PeerFactory, options: ThroughputOptions): Promise<ThroughputResult> {
  const peer = await open(options.subscriptions);
  let stopConsumers: (() => Promise<void>) | undefined;
  try {
    const count = options.subscriptions;
    // Told apart by subject: a message can be acked before its publish has answered with its id.
    const warmPrefix = `warm-${Date.now().toString(36)}`;
    const prefix = `peer-${Date.now().toString(36)}`;
    const warmExpected = new Set<string>();
    const expected = new Set<string>();
    const warmTallies = Array.from({ length: count }, () => new Tally(warmExpected, options.warmup));
    const tallies = Array.from({ length: count }, () => new Tally(expected, options.notifications));
    let wake: () => void = () => {};
    const allDone = (list: Tally[]) => list.every((tally) => tally.complete);
    stopConsumers = await peer.consume({
      received() {},
      acked(index, messages, at) {
        for (const message of messages) (message.subject.startsWith(warmPrefix) ? warmTallies : tallies)[index]!.add(message.id, at);
        wake();
      },
    });

    await peer.publish(makeInputs(warmPrefix, options.warmup)).then((published) => published.forEach((item) => warmExpected.add(item.id)));
    await until(() => allDone(warmTallies), options.timeoutMs, () => `${peer.name} warm-up`, (resolve) => (wake = resolve));

    let sent = 0;
    const stop = progress(
      `${peer.name} ${count} sub`,
      () => `${sent}/${options.notifications} accepted, acked ${Math.min(...tallies.map((tally) => tally.ids.size))}`,
      () => Math.min(...tallies.map((tally) => tally.ids.size)),
    );
    const cpuBefore = cpuSnapshot(peer.pids);
    const started = performance.now();
    try {
      const batches = chunk(makeInputs(prefix, options.notifications), options.batchSize);
      await closedLoop(batches.length, options.batchesInFlight, async (index) => {
        for (const item of await peer.publish(batches[index]!)) expected.add(item.id);
        sent += batches[index]!.length;
      });
      await until(() => allDone(tallies), options.timeoutMs, () => `${peer.name}: acked ${tallies.map((tally) => tally.ids.size).join(",")}`, (resolve) => (wake = resolve));
    } finally {
      stop();
    }
    const ended = Math.max(...tallies.map((tally) => tally.lastAt));
    const cpu = cpuBetween(cpuBefore, cpuSnapshot(peer.pids));
    await stopConsumers();
    stopConsumers = undefined;
    const perSubscription = tallies.map((tally) => tally.check());
    const ms = ended - started;
    const rows = await peer.rowsWritten?.();
    const deliveries = (options.notifications + options.warmup) * count;
    return {
      rate: (options.notifications * 1000) / ms,
      ms,
      exactlyOnce: perSubscription.every((check) => check.ok),
      perSubscription,
      cpu,
      rowsPerDelivery: rows === undefined ? undefined : rows / deliveries,
    };
  } finally {
    await stopConsumers?.().catch(() => {});
    await peer.close();
  }
}

/** Accept to received at a steady rate, through one subscription; the consumer acks as it goes. */
export async function latencyRun(open: PeerFactory, durationMs: number): Promise<SteadyLatency> {
  const peer = await open(1);
  try {
    const tracker = new LatencyTracker();
    const stopConsumers = await peer.consume({
      received: (_index, _id, subject, at) => tracker.markReceived(subject, at),
      acked() {},
    });
    try {
      return await runSteady({ label: `${peer.name} latency`, prefix: `lat-${Date.now().toString(36)}`, durationMs, pids: peer.pids }, tracker, async (subjects) => {
        await peer.publish(subjects.map((subject, index) => notificationInput(subject, index)));
      });
    } finally {
      await stopConsumers();
    }
  } finally {
    await peer.close();
  }
}

/** Resolves once `done()` holds, re-checked whenever the consumers signal; fails after `timeoutMs`. */
async function until(done: () => boolean, timeoutMs: number, what: () => string, onSignal: (resolve: () => void) => void): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what()}`);
    await Promise.race([new Promise<void>((resolve) => onSignal(resolve)), sleep(200)]);
  }
}
