import { hostname } from "node:os";
import { uuidv7 } from "../../core/ids.js";
import type { Logger } from "../../core/logger.js";
import { Outage, abortableDelay, retryWhileUnavailable } from "../../core/outage.js";
import type { Broker } from "../../mom/broker.js";
import type { PrefillJob, PrefillQueue } from "./prefill-queue.js";
import type { SnapshotProgress, SnapshotWriter } from "./snapshot-writer.js";

export interface PrefillWorkerOptions {
  concurrency: number;
  staleSeconds: number;
  catchUpTimeoutSeconds: number;
  pollMs: number;
}

const SERIALIZATION_FAILURE = "40001";
const FOREIGN_KEY_VIOLATION = "23503";
const WRITE_ATTEMPTS = 3;
const PROGRESS_LOG_MS = 1000;

/**
 * Runs prefills: claims waiting ones (up to `concurrency` at once, each on its own connection,
 * so a large one never holds up the others), waits until the read model covers everything the
 * subscription will not receive live, writes the snapshot, and reports progress as it goes.
 */
export class PrefillWorker {
  private readonly owner = `${hostname()}:${process.pid}:${uuidv7().slice(-12)}`;
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopping = false;
  private ticking = false;
  private claiming: Outage | undefined;

  constructor(
    private readonly queue: PrefillQueue,
    private readonly writer: SnapshotWriter,
    private readonly projectionPosition: () => Promise<number>,
    /** The highest sequence the dispatcher has journaled (see `coveredThrough`). */
    private readonly journaledThrough: () => Promise<number>,
    private readonly broker: Broker,
    private readonly logger: Logger,
    private readonly options: PrefillWorkerOptions,
  ) {}

  start(): void {
    this.claiming = new Outage(this.logger, "prefill claim");
    this.unsubscribe = this.broker.onPrefillRequested(() => void this.tick());
    this.timer = setInterval(() => void this.tick(), this.options.pollMs);
    void this.tick();
  }

  /** Aborts running prefills between pages and hands their claims back, so the next start resumes them at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    for (const { controller } of this.running.values()) controller.abort(new Error("shutting down"));
    await Promise.all([...this.running.values()].map((entry) => entry.done));
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopping) return;
    this.ticking = true;
    try {
      while (!this.stopping && this.running.size < this.options.concurrency) {
        const job = await this.queue.claim(this.owner, this.options.staleSeconds);
        this.claiming?.succeeded();
        if (!job) break;
        this.launch(job);
      }
    } catch (error) {
      this.claiming?.failed(error);
    } finally {
      this.ticking = false;
    }
  }

  private launch(job: PrefillJob): void {
    const controller = new AbortController();
    const done = this.run(job, controller).finally(() => {
      this.running.delete(job.subscriptionId);
      void this.tick();
    });
    this.running.set(job.subscriptionId, { controller, done });
  }

  private async run(job: PrefillJob, controller: AbortController): Promise<void> {
    const logger = this.logger.child({ subscriptionId: job.subscriptionId });
    let progress: SnapshotProgress = { total: 0, sent: 0 };
    let loggedAt = 0;
    const heartbeat = setInterval(() => {
      this.queue.heartbeat(job.subscriptionId, this.owner, progress).then(
        (alive) => (alive ? undefined : controller.abort(new Error("the claim was lost"))),
        () => undefined,
      );
    }, heartbeatMs(this.options.staleSeconds));
    logger.info("prefill started");
    // A database outage pauses the prefill: each step is retried once the database is back
    // (the snapshot's transaction rolled back), rather than failing it.
    const outage = new Outage(logger, "prefill");
    const step = <T>(run: () => Promise<T>) => retryWhileUnavailable(run, outage, controller.signal);
    try {
      await step(async () => this.waitForReadModel(await this.coveredThrough(job), controller.signal));
      const result = await step(() => this.writeWithRetry(
        job,
        (next) => {
          progress = next;
          if (Date.now() - loggedAt >= PROGRESS_LOG_MS || next.sent === next.total) {
            loggedAt = Date.now();
            logger.info({ sent: next.sent, total: next.total }, "prefill progress");
          }
        },
        controller.signal,
      ));
      await step(() => this.queue.complete(job.subscriptionId, this.owner));
      this.broker.wake(job.subscriptionId);
      logger.info({ position: result.position, total: result.total }, "prefill done");
    } catch (error) {
      await this.settleFailure(job, controller.signal, error, logger);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async settleFailure(job: PrefillJob, signal: AbortSignal, error: unknown, logger: Logger): Promise<void> {
    if (signal.aborted) {
      if (this.stopping) await this.queue.release(job.subscriptionId, this.owner).catch(() => undefined);
      logger.warn({ reason: (signal.reason as Error).message }, "prefill interrupted; it will start again");
      return;
    }
    if ((error as { code?: string }).code === FOREIGN_KEY_VIOLATION) {
      logger.info("subscription deleted during its prefill");
      return;
    }
    const message = (error as Error).message;
    logger.error({ err: error }, "prefill failed");
    await this.queue.fail(job.subscriptionId, this.owner, message).catch(() => undefined);
  }

  /** A concurrent change to the subscription row can fail the snapshot's serializable read; it simply runs again. */
  private async writeWithRetry(job: PrefillJob, onProgress: (progress: SnapshotProgress) => void, signal: AbortSignal) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writer.write(job, onProgress, signal);
      } catch (error) {
        if ((error as { code?: string }).code !== SERIALIZATION_FAILURE || attempt >= WRITE_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * What the snapshot must cover: everything before `startSeq`, and everything the dispatcher
   * journaled before the subscription was routed. Its start sequence is read before its row
   * commits, so a notification with a later sequence can still have been appended without it; a
   * committed subscription change waits for those appends (see the ledger's append), so the
   * journal's head, read now that the subscription exists, bounds them all. Every later
   * notification reaches the subscription live, and those the snapshot covers are not sent twice.
   */
  private async coveredThrough(job: PrefillJob): Promise<number> {
    return Math.max(job.startSeq - 1, await this.journaledThrough());
  }

  /** Waits for the projection to reach `position`. */
  private async waitForReadModel(position: number, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.options.catchUpTimeoutSeconds * 1000;
    while ((await this.projectionPosition()) < position) {
      signal.throwIfAborted();
      if (Date.now() > deadline) {
        throw new Error(
          `the read model did not reach stream position ${position} within ${this.options.catchUpTimeoutSeconds} s; check that a prefill service (its projection) is running, then re-run the prefill`,
        );
      }
      await abortableDelay(100, signal);
    }
  }
}

/** Often enough to show progress each second, and well inside the time after which a claim goes stale. */
function heartbeatMs(staleSeconds: number): number {
  return Math.max(100, Math.min(1000, (staleSeconds * 1000) / 3));
}
