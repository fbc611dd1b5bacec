/**
 * Whether this process's producer is accepting notifications right now, and the highest stream
 * sequence it has been acknowledged. In-process only: work in the same process that may wait (the
 * projection) gives way to ingest for a bounded time, and nothing that must hold depends on it. In
 * a process without the producer it is always idle.
 */
export class IngestActivity {
  private inFlight = 0;
  private lastEndedAt = -Infinity;
  private highest = 0;

  /** @param quietMs how long after the last request ends ingest still counts as busy (a closed-loop client's next batch is on its way). */
  constructor(private readonly quietMs = 50) {}

  begin(): void {
    this.inFlight++;
  }

  /** A request finished; `sequence` is the highest stream sequence it was acknowledged, if any. */
  end(sequence = 0): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.lastEndedAt = performance.now();
    if (sequence > this.highest) this.highest = sequence;
  }

  busy(now = performance.now()): boolean {
    return this.inFlight > 0 || now - this.lastEndedAt < this.quietMs;
  }

  /** The highest sequence the producer was acknowledged (0 before the first). */
  highestSequence(): number {
    return this.highest;
  }

  /** Resolves once ingest is idle, or after `maxMs`, whichever comes first. */
  async whenIdle(maxMs: number): Promise<void> {
    const deadline = performance.now() + maxMs;
    for (;;) {
      const now = performance.now();
      if (!this.busy(now) || now >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(deadline - now, this.quietMs)));
    }
  }
}
