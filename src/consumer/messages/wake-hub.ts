import type { Broker } from "../../mom/broker.js";

/**
 * Long-polls wait here for a subscription's next message. The dispatcher (and every settle)
 * publishes a wake-up per subscription; a generation counter closes the window between an
 * empty lease and the start of the wait, so no wake-up is lost.
 *
 * A wake-up resolves one waiter, the longest waiting: the others would only find the same rows
 * locked or gone. The woken one passes the wake-up on when it leaves messages behind (its batch
 * came back full) or fails, so none is lost while others wait.
 */
export class WakeHub {
  private readonly generations = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Waiters that hear every wake-up (push pumps), beside the pulls that take turns. */
  private readonly watchers = new Map<string, Set<() => void>>();
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
    for (const resolve of [...(this.watchers.get(subscriptionId) ?? [])]) resolve();
    this.passOn(subscriptionId);
  }

  /** Wakes the longest waiting of a subscription's waiters, if any. */
  passOn(subscriptionId: string): void {
    const waiting = this.waiters.get(subscriptionId);
    const first = waiting?.values().next().value;
    first?.();
  }

  /**
   * Resolves on a wake-up after `seen`, at `until` (epoch ms), when the client goes away, or at
   * shutdown. `everyWakeUp`: woken by each wake-up, not in turn with the pulls.
   */
  wait(subscriptionId: string, seen: number, until: number, signal?: AbortSignal, everyWakeUp = false): Promise<void> {
    if (this.closed || signal?.aborted || this.generation(subscriptionId) !== seen) return Promise.resolve();
    const registry = everyWakeUp ? this.watchers : this.waiters;
    return new Promise((resolve) => {
      const waiting = registry.get(subscriptionId) ?? new Set();
      registry.set(subscriptionId, waiting);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        waiting.delete(done);
        if (waiting.size === 0 && registry.get(subscriptionId) === waiting) registry.delete(subscriptionId);
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
    for (const registry of [this.waiters, this.watchers]) {
      for (const waiting of registry.values()) for (const resolve of [...waiting]) resolve();
      registry.clear();
    }
  }
}
