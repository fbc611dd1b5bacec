import type { Logger } from "./logger.js";

/** pg SQLSTATEs that mean the server went away or refuses connections, not that the statement was wrong. */
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);
const CONNECTION_SQLSTATE_CLASS = "08";
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|connection is closed|Cannot use a pool after calling end/i;
/** NATS.js error names for a connection that is down, closed or not answering. */
const NATS_UNAVAILABLE = new Set(["ClosedConnectionError", "DrainingConnectionError", "ConnectionError", "TimeoutError", "NoResponders", "RequestError"]);

/**
 * Whether an error says a dependency (PostgreSQL or NATS) cannot be reached right now, as
 * opposed to a fault of the request or the code. Such errors answer 503 and make background
 * workers pause and try again.
 */
export function isUnavailableError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== "object") return false;
    const { code, message, name, cause } = current as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
    if (typeof code === "string") {
      if (UNAVAILABLE_SQLSTATES.has(code) || SOCKET_CODES.has(code)) return true;
      if (code.length === 5 && code.startsWith(CONNECTION_SQLSTATE_CLASS)) return true;
    }
    if (typeof name === "string" && NATS_UNAVAILABLE.has(name)) return true;
    if (typeof message === "string" && CONNECTION_MESSAGES.test(message)) return true;
    current = cause;
  }
  return false;
}

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2_000;

/**
 * What a background loop does while a dependency is down: it logs the outage once when it
 * begins and once when it ends (not on every tick), and backs off 100 ms, 200 ms, … up to 2 s
 * between tries so it resumes within moments of the dependency coming back.
 */
export class Outage {
  private failures = 0;
  private since: number | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  /** Records a failure and returns how long to wait before the next try. */
  failed(error: unknown, context: Record<string, unknown> = {}): number {
    this.failures++;
    if (this.since === undefined) {
      this.since = Date.now();
      if (isUnavailableError(error)) this.logger.warn({ ...context, err: error }, `${this.what}: a dependency is unavailable; pausing and retrying`);
      else this.logger.error({ ...context, err: error }, `${this.what} failed; retrying`);
    }
    return this.delayMs();
  }

  /** Records a success; logs the end of an outage if one was going on. */
  succeeded(): void {
    if (this.since !== undefined) {
      this.logger.info({ failures: this.failures, downMs: Date.now() - this.since }, `${this.what}: resumed`);
    }
    this.failures = 0;
    this.since = undefined;
  }

  get failing(): boolean {
    return this.since !== undefined;
  }

  delayMs(): number {
    if (this.failures === 0) return 0;
    return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(this.failures - 1, 10));
  }
}

/**
 * Runs `step`, and again after a back-off for as long as it fails because a dependency is
 * unavailable; any other error, or an abort, ends it. For steps that are safe to repeat.
 */
export async function retryWhileUnavailable<T>(step: () => Promise<T>, outage: Outage, signal?: AbortSignal): Promise<T> {
  for (;;) {
    try {
      const result = await step();
      outage.succeeded();
      return result;
    } catch (error) {
      if (!isUnavailableError(error) || signal?.aborted) throw error;
      await abortableDelay(outage.failed(error), signal);
    }
  }
}

export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
