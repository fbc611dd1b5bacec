import { setTimeout as sleep } from "node:timers/promises";
import { AppError } from "../../core/errors.js";
import type { Logger } from "../../core/logger.js";
import { Outage, isUnavailableError } from "../../core/outage.js";
import { registryNotification } from "../book/envelopes.js";
import { uuidv5 } from "../book/ids.js";
import type { OutboxRelay } from "../book/outbox.js";
import type { CertificateStore } from "../book/registry-store.js";
import { validateAnnual } from "../book/validation.js";
import type { ConvertResult } from "./compute.js";
import type { ConversionPool } from "./conversion-pool.js";
import type { ConversionRecord, ConversionStore, HourlyIssuer } from "./conversion-store.js";
import type { ConversionLeases } from "./leases.js";

export interface ConversionRunnerOptions {
  /** Conversions worked on at once (each computes on the pool, then writes and publishes). */
  lanes: number;
  /** Conversions this process accepts beyond those it works on (config.conversions.queue). */
  queue: number;
  /** How often a conversion waiting for the registry looks at its issue commands. */
  progressIntervalMs?: number;
  /** How often unfinished conversions nobody holds are looked for. */
  sweepIntervalMs?: number;
  /** First retry delay after a failed step; doubles with each failure in a row, up to 30 s. */
  retryBaseMs?: number;
}

const MAX_ATTEMPTS = 5;
const MAX_BACKOFF_MS = 30_000;

class Stopping extends Error {}

/**
 * Moves conversions through their steps, each durable before the next begins:
 * queued -> running (apportioned on the worker pool) -> persisted (one issue command per hourly
 * certificate queued for the registry, one transaction) -> the registry commits the hours (the
 * connector sends them in batches; each committed hour enters the book with its
 * `certificate.issued`), progress recorded -> done (`certificate.converted` committed to the
 * outbox with the status). After a crash the conversion resumes from its last durable step:
 * the commands are queued once (status checked under the row lock) and the connector carries
 * them on whatever happens to this process.
 */
export class ConversionRunner {
  private readonly waiting: string[] = [];
  /** Waiting or being worked on in this process. */
  private readonly tracked = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  /** Consecutive failed attempts per conversion in this process, for the back-off. */
  private readonly failures = new Map<string, number>();
  private active = 0;
  private stopping = false;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly progressIntervalMs: number;
  private readonly outage: Outage;

  constructor(
    private readonly store: ConversionStore,
    private readonly certificates: CertificateStore,
    private readonly pool: ConversionPool,
    private readonly issue: { hours: HourlyIssuer; accepted(): void },
    private readonly leases: ConversionLeases,
    private readonly relay: OutboxRelay,
    private readonly logger: Logger,
    private readonly sourceVersion: string,
    private readonly options: ConversionRunnerOptions,
  ) {
    this.progressIntervalMs = options.progressIntervalMs ?? 200;
    this.outage = new Outage(logger, "conversions");
  }

  /** Whether another conversion may be accepted now. */
  hasRoom(): boolean {
    return this.tracked.size < this.options.lanes + this.options.queue;
  }

  submit(conversionId: string): void {
    if (this.stopping || this.tracked.has(conversionId)) return;
    this.tracked.add(conversionId);
    this.waiting.push(conversionId);
    this.pump();
  }

  /** Takes up what is unfinished (a crash, a stopped process), now and then on a timer. */
  start(): void {
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), this.options.sweepIntervalMs ?? 5_000);
    this.sweeper.unref();
  }

  /** Stops after the current step of each conversion; the rest resumes on the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    this.waiting.length = 0;
    await Promise.allSettled([...this.inFlight]);
    await this.leases.close();
    await this.pool.close();
  }

  private async sweep(): Promise<void> {
    try {
      const room = this.options.lanes + this.options.queue - this.tracked.size;
      if (room <= 0) return;
      for (const id of await this.store.unfinished(room + this.tracked.size)) {
        if (!this.tracked.has(id) && !this.retries.has(id) && this.hasRoom()) this.submit(id);
      }
      this.outage.succeeded();
    } catch (error) {
      this.outage.failed(error);
    }
  }

  private pump(): void {
    while (!this.stopping && this.active < this.options.lanes && this.waiting.length > 0) {
      const id = this.waiting.shift()!;
      this.active++;
      const run: Promise<void> = this.runLeased(id).finally(() => {
        this.active--;
        this.tracked.delete(id);
        this.inFlight.delete(run);
        this.pump();
      });
      this.inFlight.add(run);
    }
  }

  private async runLeased(id: string): Promise<void> {
    let leased = false;
    try {
      leased = await this.leases.acquire(id);
      // Another process holds it; the sweep looks again if that process goes away.
      if (!leased) return;
      await this.advance(id);
      this.failures.delete(id);
      this.outage.succeeded();
    } catch (error) {
      if (error instanceof Stopping || this.stopping) return;
      const delay = isUnavailableError(error) ? this.outage.failed(error, { conversionId: id }) : this.stepFailed(id, error);
      this.retries.set(
        id,
        setTimeout(() => {
          this.retries.delete(id);
          this.submit(id);
        }, delay).unref(),
      );
    } finally {
      if (leased) await this.leases.release(id);
    }
  }

  /** A step failed for a reason of its own: retried on a longer back-off, and said so each time. */
  private stepFailed(id: string, error: unknown): number {
    const failures = (this.failures.get(id) ?? 0) + 1;
    this.failures.set(id, failures);
    const delay = Math.min(MAX_BACKOFF_MS, (this.options.retryBaseMs ?? 250) * 2 ** Math.min(failures - 1, 10));
    this.logger.warn({ err: error, conversionId: id, retryInMs: delay }, "conversion step failed; it will resume");
    return delay;
  }

  private async advance(id: string): Promise<void> {
    let conversion = await this.store.find(id);
    if (!conversion || conversion.status === "done" || conversion.status === "failed") return;
    const logger = this.logger.child({ conversionId: id, annualCertificateId: conversion.annualCertificateId });
    let computed: ConvertResult | undefined;
    if (conversion.status !== "queued") {
      logger.info({ status: conversion.status, hoursPublished: conversion.hoursPublished, attempts: conversion.attempts }, "conversion resumed");
    }

    if (conversion.status === "queued" || conversion.status === "running") {
      conversion = await this.store.start(id);
      if (!conversion) return this.advance(id);
      computed = await this.computeAndPersist(conversion, logger);
      if (!computed) return;
      conversion = (await this.store.find(id))!;
    }

    if (conversion.status === "persisted") {
      if (await this.awaitRegistry(conversion, logger)) await this.finish(conversion, logger);
    }
  }

  /**
   * Apportions on the pool and writes the hours. Nothing is written unless all of it is, so a
   * conversion that cannot get this far (a conflict, or MAX_ATTEMPTS failures) may fail safely;
   * anything else (the database or the pool away for a moment) is retried.
   */
  private async computeAndPersist(conversion: ConversionRecord, logger: Logger): Promise<ConvertResult | undefined> {
    try {
      const annual = await this.certificates.find(conversion.annualCertificateId);
      if (!annual) throw new AppError("conflict", `certificate ${conversion.annualCertificateId} does not exist`);
      const computed = await this.pool.convert({
        quantityWh: annual.state.quantityWh,
        hours: conversion.hours,
        weightsWh: conversion.profileKind === "uniform" ? null : await this.store.profile(conversion.id),
      });
      this.checkStopping();
      const began = performance.now();
      const wrote = await this.store.persist(conversion.id, computed.quantitiesWh, this.issue.hours);
      this.issue.accepted();
      logger.info(
        { hours: conversion.hours, zeroHours: computed.zeroHours, ms: Math.round(performance.now() - began), wrote },
        "conversion persisted: one issue command per hour queued for the registry",
      );
      return computed;
    } catch (error) {
      this.checkStopping();
      const permanent = error instanceof AppError && error.code === "conflict";
      // An outage is nobody's fault: it never uses up the conversion's attempts.
      if (!permanent && (conversion.attempts < MAX_ATTEMPTS || isUnavailableError(error))) throw error;
      logger.error({ err: error, attempts: conversion.attempts }, "conversion failed; nothing was written");
      await this.store.fail(conversion.id, (error as Error).message);
      return undefined;
    }
  }

  /** Waits for the registry to commit every hour; false (conversion failed) if it failed one. */
  private async awaitRegistry(conversion: ConversionRecord, logger: Logger): Promise<boolean> {
    let nextReport = conversion.hours / 4;
    for (;;) {
      this.checkStopping();
      const progress = await this.store.issueProgress(conversion.id);
      await this.store.recordPublished(conversion.id, progress.committed);
      if (progress.failed > 0) {
        const error = `the registry failed ${progress.failed} of ${conversion.hours} hourly issues (${progress.firstError}); the ${progress.committed} it committed stay issued`;
        logger.error({ failed: progress.failed, committed: progress.committed }, "conversion failed at the registry");
        await this.store.fail(conversion.id, error);
        return false;
      }
      if (progress.committed >= conversion.hours) return true;
      if (progress.committed >= nextReport) {
        logger.info({ committed: progress.committed, hours: conversion.hours }, "conversion progress: hours committed by the registry");
        while (nextReport <= progress.committed) nextReport += conversion.hours / 4;
      }
      await sleep(this.progressIntervalMs);
    }
  }

  private async finish(conversion: ConversionRecord, logger: Logger): Promise<void> {
    const annual = await this.certificates.find(conversion.annualCertificateId);
    if (!annual) throw new Error(`certificate ${conversion.annualCertificateId} vanished`);
    const checks = validateAnnual(annual, await this.certificates.family(conversion.annualCertificateId));
    const validation = { valid: checks.every((check) => check.result !== "failed"), checks };
    // Converting is certflow's own bookkeeping (no registry command, no new version): its id
    // derives from the conversion rather than the certificate's version.
    const converted = {
      ...registryNotification(
        {
          type: "certificate.converted",
          state: annual.state,
          extras: { conversionId: conversion.id, hourlyCertificateCount: conversion.hours },
          time: new Date(),
          causeId: conversion.id,
        },
        this.sourceVersion,
      ),
      id: uuidv5(`${conversion.id}#converted`),
    };
    await this.store.finish(conversion.id, converted, validation);
    await this.relay.flushQuietly();
    const startedAt = conversion.startedAt?.getTime() ?? conversion.createdAt.getTime();
    logger.info({ hours: conversion.hours, valid: validation.valid, durationMs: Date.now() - startedAt }, "conversion done");
  }

  private checkStopping(): void {
    if (this.stopping) throw new Stopping("stopping");
  }
}
