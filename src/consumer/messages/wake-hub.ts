import type { Broker } from "../../mom/broker.js";

/**
 * Long-polls wait here for a subscription's next message. The dispatcher (and every settle)
 * publishes a wake-up per subscription; a generation counter closes the window between an
 * empty lease and the start of the wait, so no wake-up is lost.
 */
export class WakeHub {
  private readonly generations = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(broker: Broker) {
    this.unsubscribe = broker.onWake((subscriptionId) => this.notify(subscriptionId));
  }

  generation(subscriptionId: string): number {
    return this.generations.get(subscriptionId) ?? 0;
  }

  notify(subscriptionId: string): void {
    this.generations.set(subscriptionId, this.generation(subscriptionId) + 1);
    const waiting = this.waiters.get(subscriptionId);
    if (!waiting) return;
    this.waiters.delete(subscriptionId);
    for (const resolve of waiting) resolve();
  }

  /** Resolves on a wake-up after `seen`, at `until` (epoch ms), when the client goes away, or at shutdown. */
  wait(subscriptionId: string, seen: number, until: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted || this.generation(subscriptionId) !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = this.waiters.get(subscriptionId) ?? new Set();
      this.waiters.set(subscriptionId, waiting);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        waiting.delete(done);
        if (waiting.size === 0 && this.waiters.get(subscriptionId) === waiting) this.waiters.delete(subscriptionId);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      signal?.addEventListener("abort", done, { once: true });
      waiting.add(done);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends every wait at once, so long-polls answer (empty) and shutdown is not held up. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const waiting of this.waiters.values()) for (const resolve of waiting) resolve();
    this.waiters.clear();
  }
}
