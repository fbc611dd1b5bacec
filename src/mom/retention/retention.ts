import { setImmediate as yieldToOthers } from "node:timers/promises";
import type { Logger } from "../../core/logger.js";

/**
 * One kind of record kept for a period. The owner of the table supplies the rule: it deletes at
 * most `batch` rows older than `cutoff` and says how many it deleted.
 */
export interface RetentionRule {
  kind: string;
  periodSeconds: number;
  prune(cutoffSecondsAgo: number, batch: number): Promise<number>;
}

/** Where retention notes, per kind, before when records may be gone (the markers the read APIs show). */
export interface RetentionHorizons {
  record(kind: string, periodSeconds: number, removed: number): Promise<void>;
  removedBefore(kind: string): Promise<Date | null>;
}

export interface RetentionOptions {
  batch: number;
}

/**
 * Removes old records in small batches, one rule after the other, yielding between batches so
 * delivery is never held up; a pass stops between batches when its lease moves on.
 */
export class Retention {
  constructor(
    private readonly rules: readonly RetentionRule[],
    private readonly horizons: RetentionHorizons,
    private readonly options: RetentionOptions,
    private readonly logger: Logger,
  ) {}

  async pass(signal: AbortSignal): Promise<Record<string, number>> {
    const removed: Record<string, number> = {};
    for (const rule of this.rules) {
      let total = 0;
      for (;;) {
        if (signal.aborted) return removed;
        const count = await rule.prune(rule.periodSeconds, this.options.batch);
        total += count;
        if (count < this.options.batch) break;
        await yieldToOthers();
      }
      if (total > 0) await this.horizons.record(rule.kind, rule.periodSeconds, total);
      removed[rule.kind] = total;
    }
    if (Object.values(removed).some((count) => count > 0)) this.logger.info({ removed }, "retention removed old records");
    return removed;
  }
}
