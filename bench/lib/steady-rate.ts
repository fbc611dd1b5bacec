import { cpuBetween, cpuSnapshot } from "./cpu.js";
import { subjectOf } from "./payload.js";
import { progress } from "./progress.js";
import { distribution, type Distribution } from "./stats.js";
import { sleep } from "./system-process.js";

/** Notifications per second of the steady-rate benchmarks (latency, push). */
export const STEADY_RATE = Number(process.env.BENCH_LATENCY_RATE ?? 1000);
export const STEADY_TICK_MS = 20;
export const STEADY_WARMUP_MS = 1_000;
export const STEADY_DRAIN_TIMEOUT_MS = 60_000;

interface Sent {
  sentAt: number;
  acceptedAt?: number;
  receivedAt?: number;
  measured: boolean;
}

/** Send, accept and receive times by subject (one notification per subject); accept and receive may come in either order. */
export class LatencyTracker {
  private readonly entries = new Map<string, Sent>();
  readonly fromSend: number[] = [];
  readonly fromAccept: number[] = [];
  sentMeasured = 0;
  received = 0;
  private outstanding = 0;
  /** Measured notifications received before their POST was answered. */
  early = 0;

  markSent(subject: string, at: number, measured: boolean): void {
    this.entries.set(subject, { sentAt: at, measured });
    this.outstanding++;
    if (measured) this.sentMeasured++;
  }

  markAccepted(subjects: readonly string[], at: number): void {
    for (const subject of subjects) {
      const entry = this.entries.get(subject);
      if (!entry || entry.acceptedAt !== undefined) continue;
      entry.acceptedAt = at;
      if (entry.receivedAt !== undefined) this.settle(subject, entry);
    }
  }

  markReceived(subject: string, at: number): void {
    const entry = this.entries.get(subject);
    if (!entry || entry.receivedAt !== undefined) return;
    entry.receivedAt = at;
    this.received++;
    if (entry.acceptedAt !== undefined) this.settle(subject, entry);
  }

  private settle(subject: string, entry: Sent): void {
    this.entries.delete(subject);
    this.outstanding--;
    if (!entry.measured) return;
    this.fromSend.push(entry.receivedAt! - entry.sentAt);
    this.fromAccept.push(entry.receivedAt! - entry.acceptedAt!);
    if (entry.receivedAt! < entry.acceptedAt!) this.early++;
  }

  /** Everything sent so far has been received. */
  get drained(): boolean {
    return this.outstanding === 0;
  }
}

export interface SteadyLatency {
  /** Achieved send rate over the measured window. */
  rate: number;
  /** From the last send until everything sent had been received: a backlog when the rate was not sustained. */
  drainMs: number;
  /** From the POST's answer to receipt, and from the send to receipt. */
  fromAccept: Distribution;
  fromSend: Distribution;
  early: number;
  errors: number;
  cpu: Record<string, string>;
}

export interface SteadyOptions {
  label: string;
  prefix: string;
  durationMs: number;
  pids?: Record<string, number | undefined>;
  drainTimeoutMs?: number;
}

/**
 * Sends STEADY_RATE notifications per second for the warm-up plus `durationMs`: every tick a
 * batch of what is due by the clock (a late tick catches up), without waiting for earlier
 * batches; then waits until everything sent was received. Only notifications after the warm-up
 * are measured.
 */
export async function runSteady(options: SteadyOptions, tracker: LatencyTracker, send: (subjects: string[]) => Promise<void>): Promise<SteadyLatency> {
  const { label, prefix, durationMs, pids = {}, drainTimeoutMs = STEADY_DRAIN_TIMEOUT_MS } = options;
  const total = Math.round(((STEADY_WARMUP_MS + durationMs) * STEADY_RATE) / 1000);
  const warmupCount = Math.round((STEADY_WARMUP_MS * STEADY_RATE) / 1000);
  let scheduled = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const stop = progress(label, () => `${scheduled}/${total} sent, ${tracker.received} received`);
  const started = performance.now();
  let cpuBefore = cpuSnapshot(pids);
  let measuredFrom = started;
  try {
    while (scheduled < total) {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - started) * STEADY_RATE) / 1000)) - scheduled;
      if (due > 0) {
        const subjects: string[] = [];
        for (let index = 0; index < due; index++) {
          const position = scheduled + index;
          if (position === warmupCount) {
            measuredFrom = now;
            cpuBefore = cpuSnapshot(pids);
          }
          const subject = subjectOf(prefix, position);
          tracker.markSent(subject, now, position >= warmupCount);
          subjects.push(subject);
        }
        scheduled += due;
        const sending = send(subjects).then(
          () => tracker.markAccepted(subjects, performance.now()),
          () => void errors++,
        );
        inFlight.add(sending);
        void sending.finally(() => inFlight.delete(sending));
      }
      await sleep(Math.max(1, STEADY_TICK_MS - (performance.now() - now)));
    }
    const lastSend = performance.now();
    const sendMs = lastSend - measuredFrom;
    await Promise.all(inFlight);
    const deadline = performance.now() + drainTimeoutMs;
    while (!tracker.drained && performance.now() < deadline) await sleep(20);
    const drainMs = performance.now() - lastSend;
    const cpu = cpuBetween(cpuBefore, cpuSnapshot(pids));
    if (!tracker.drained) {
      throw new Error(`${label}: ${tracker.received} of ${scheduled} received within ${Math.round(drainTimeoutMs / 1000)} s of the last send`);
    }
    return {
      rate: (tracker.sentMeasured * 1000) / sendMs,
      drainMs,
      fromAccept: distribution(tracker.fromAccept),
      fromSend: distribution(tracker.fromSend),
      early: tracker.early,
      errors,
      cpu,
    };
  } finally {
    stop();
  }
}
