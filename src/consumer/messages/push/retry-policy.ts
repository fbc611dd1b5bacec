export interface RetryPolicyOptions {
  /** Seconds before each attempt; the first entry is the first attempt's (normally 0). */
  scheduleSeconds: readonly number[];
  retryAfterMaxSeconds: number;
  /** Fraction of the delay added or removed at random, so retries of many messages spread out. */
  jitter?: number;
  random?: () => number;
}

/** When to try again after a failed attempt, or that there are no attempts left. */
export class RetryPolicy {
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(private readonly options: RetryPolicyOptions) {
    this.jitter = options.jitter ?? 0.1;
    this.random = options.random ?? Math.random;
  }

  get maxAttempts(): number {
    return this.options.scheduleSeconds.length;
  }

  /**
   * Seconds to wait after attempt number `attempt` (1-based) failed, or undefined when it was
   * the last. A `Retry-After` the endpoint sent replaces the schedule's delay, within bounds.
   */
  delayAfter(attempt: number, retryAfterSeconds?: number): number | undefined {
    const scheduled = this.options.scheduleSeconds[attempt];
    if (scheduled === undefined) return undefined;
    if (retryAfterSeconds !== undefined) return Math.min(Math.max(retryAfterSeconds, 0), this.options.retryAfterMaxSeconds);
    const spread = scheduled * this.jitter * (2 * this.random() - 1);
    return Math.max(0, Math.round(scheduled + spread));
  }
}

/** `Retry-After` as seconds: a number of seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
