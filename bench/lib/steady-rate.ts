import { cpuBetween, cpuSnapshot } from "./cpu.js";
import { subjectOf } from "./payload.js";
import { progress } from "./progress.js";
import { sleep } from "./system-process.js";

/** Notifications per second of the steady-rate benchmarks (latency, push). */
export const STEADY_RATE = Number(process.env.BENCH_LATENCY_RATE ?? 1000);
export const STEADY_TICK_MS = 20;
export const STEADY_WARMUP_MS = 1_000;
export const STEADY_DRAIN_TIMEOUT_MS = 60_000;

/** What a steady run reports to and asks of the benchmark's own bookkeeping. */
export interface SteadyTracker {
  markSent(subject: string, at: number, measured: boolean): void;
  /** When the send of these subjects was answered, if the benchmark times from acceptance. */
  markAccepted?(subjects: string[], at: number): void;
  readonly received: number;
  readonly sentMeasured: number;
  /** Everything sent so far has been received. */
  readonly drained: boolean;
}

export interface SteadyRun {
  /** Achieved send rate over the measured window. */
  rate: number;
  /** From the last send until everything sent had been received: a backlog when the rate was not sustained. */
  drainMs: number;
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
export async function runSteady(options: SteadyOptions, tracker: SteadyTracker, send: (subjects: string[]) => Promise<void>): Promise<SteadyRun> {
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
          () => tracker.markAccepted?.(subjects, performance.now()),
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
    return { rate: (tracker.sentMeasured * 1000) / sendMs, drainMs, errors, cpu };
  } finally {
    stop();
  }
}
