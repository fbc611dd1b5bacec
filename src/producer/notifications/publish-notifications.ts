import { randomBytes } from "node:crypto";
import { formatTraceparent, newSpanId, parseTraceparent, type TraceContext } from "../../core/trace-context.js";
import { NO_TRACING, type Tracing } from "../../core/tracing.js";
import { AppError, describeFieldErrors, fieldErrorsFromZod, type FieldError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { Logger } from "../../core/logger.js";
import type { Metrics } from "../../core/metrics.js";
import type { IngestActivity } from "../../core/notifications/ingest-activity.js";
import { parseNotificationInput, type Notification, type NotificationInput } from "../../core/notifications/envelope.js";
import type { Broker, PublishResult } from "../../mom/broker.js";
import type { NotificationJournal } from "../../mom/journal/journal.js";

export interface Producer {
  name: string;
}

export type ItemResult =
  | { index: number; id: string; sequence: number; duplicate: boolean }
  | { index: number; error: { code: "validation_failed" | "unavailable"; detail: string; errors?: FieldError[] } };

const DEFAULT_SOURCE_VERSION = "1";
/** Recently accepted ids and their correlation ids: a chain posted faster than the journal fills still correlates. */
const RECENT_CORRELATIONS = 100_000;

/**
 * Accepts notifications from producers: fills in the envelope, publishes with the id as the
 * broker's deduplication key, and answers once the broker has stored each one.
 */
export class PublishNotifications {
  private readonly recentCorrelations = new Map<string, string>();

  constructor(
    private readonly broker: Broker,
    private readonly journal: NotificationJournal,
    private readonly metrics: Metrics,
    /** Tells background work in this process (the projection) when ingest is busy. */
    private readonly activity: IngestActivity,
    private readonly tracing: Tracing = NO_TRACING,
  ) {}

  publishOne(input: NotificationInput, producer: Producer, logger: Logger, trace?: TraceContext): Promise<PublishResult> {
    return this.whileIngesting(() => this.publishOneNow(input, producer, logger, trace), (result) => [result]);
  }

  private async publishOneNow(input: NotificationInput, producer: Producer, logger: Logger, trace?: TraceContext): Promise<PublishResult> {
    checkSourceName(input, producer, "source.name");
    const started = new Date();
    const [notification] = await this.envelopes([input], producer, trace);
    const known = await this.alreadyJournaled([input]);
    const journaled = known.get(notification!.id);
    if (journaled) return this.duplicate(notification!.id, journaled);
    let result: PublishResult;
    try {
      result = await this.broker.publish(notification!);
    } catch (error) {
      logger.warn({ notificationId: notification!.id, err: error }, "publish failed");
      throw new AppError("unavailable", "the broker did not confirm the notification; retry with the same id");
    }
    const counts = new AcceptCounts();
    counts.add(notification!, result);
    counts.report(this.metrics);
    this.remember(notification!);
    this.recordAccept(notification!, trace, started);
    logger.info({ notificationId: result.id, sequence: result.sequence, duplicate: result.duplicate }, "notification accepted");
    return result;
  }

  /** Validates each item on its own: one bad item is reported, the others are still published. */
  publishBatch(items: readonly unknown[], producer: Producer, logger: Logger, trace?: TraceContext): Promise<ItemResult[]> {
    return this.whileIngesting(() => this.publishBatchNow(items, producer, logger, trace), (results) => results);
  }

  /** Tells the process's background work that ingest is busy while `publish` runs, and how far it published. */
  private async whileIngesting<T>(publish: () => Promise<T>, published: (result: T) => ReadonlyArray<ItemResult | PublishResult>): Promise<T> {
    this.activity.begin();
    let highest = 0;
    try {
      const result = await publish();
      for (const item of published(result)) if ("sequence" in item && item.sequence > highest) highest = item.sequence;
      return result;
    } finally {
      this.activity.end(highest);
    }
  }

  private async publishBatchNow(items: readonly unknown[], producer: Producer, logger: Logger, trace?: TraceContext): Promise<ItemResult[]> {
    const started = new Date();
    const results: ItemResult[] = new Array(items.length);
    const valid: Array<{ index: number; input: NotificationInput }> = [];
    items.forEach((item, index) => {
      const parsed = parseNotificationInput(item);
      if (!parsed.success) {
        results[index] = invalid(index, fieldErrorsFromZod(parsed.error, `notifications.${index}`));
        return;
      }
      const mismatch = sourceNameMismatch(parsed.data, producer, `notifications.${index}.source.name`);
      if (mismatch) results[index] = invalid(index, [mismatch]);
      else valid.push({ index, input: parsed.data });
    });

    const notifications = await this.envelopes(
      valid.map((item) => item.input),
      producer,
      trace,
    );
    const known = await this.alreadyJournaled(valid.map((item) => item.input));
    const toPublish = notifications.map((notification, position) => ({ notification, index: valid[position]!.index }));
    const fresh = toPublish.filter(({ notification, index }) => {
      const journaled = known.get(notification.id);
      if (journaled) results[index] = { index, ...this.duplicate(notification.id, journaled) };
      return !journaled;
    });

    const published = await this.broker.publishMany(fresh.map((item) => item.notification));
    const counts = new AcceptCounts();
    published.forEach((outcome, position) => {
      const { notification, index } = fresh[position]!;
      if (outcome instanceof Error) {
        logger.warn({ notificationId: notification.id, err: outcome }, "publish failed");
        results[index] = {
          index,
          error: { code: "unavailable", detail: "the broker did not confirm this notification; retry it with the same id" },
        };
        return;
      }
      counts.add(notification, outcome);
      this.remember(notification);
      this.recordAccept(notification, trace, started);
      results[index] = { index, id: outcome.id, sequence: outcome.sequence, duplicate: outcome.duplicate };
    });
    counts.report(this.metrics);
    logger.info({ items: items.length, published: fresh.length }, "batch accepted");
    return results;
  }

  /** The notification's own span: from the request's arrival to the broker's acknowledgement. */
  private recordAccept(notification: Notification, trace: TraceContext | undefined, started: Date): void {
    if (this.tracing === NO_TRACING) return;
    const span = parseTraceparent(notification.traceparent);
    if (!span || !trace) return;
    this.tracing.record({
      name: `accept ${notification.type}`,
      kind: "server",
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: trace.parentSpanId,
      start: started,
      end: new Date(),
      attributes: {
        "certflow.notification.id": notification.id,
        "certflow.notification.type": notification.type,
        "certflow.subject": notification.subject,
        "certflow.correlation_id": notification.correlationId,
      },
    });
  }

  /**
   * Builds envelopes. The correlation id is inherited from the parent when the producer names
   * only the parent: from an earlier item of the same request, from what this process accepted
   * lately, or from the journal; a parent nobody has seen roots the chain. Each notification is a
   * span of the request's trace (a child of the caller's span, or of a new root).
   */
  private async envelopes(inputs: readonly NotificationInput[], producer: Producer, trace?: TraceContext): Promise<Notification[]> {
    const orphans = inputs
      .filter((input) => input.parentId && !input.correlationId && !this.recentCorrelations.has(input.parentId))
      .map((input) => input.parentId!);
    const parents = await this.journal.findMany(orphans);
    const correlationOf = new Map([...parents].map(([id, record]) => [id, record.correlationId]));
    for (const input of inputs) {
      const recent = input.parentId ? this.recentCorrelations.get(input.parentId) : undefined;
      if (recent) correlationOf.set(input.parentId!, recent);
    }
    const now = new Date().toISOString();
    const spans = trace ? new SpanIds(inputs.length) : undefined;
    return inputs.map((input) => {
      const id = input.id ?? uuidv7();
      const parentId = input.parentId ?? null;
      const correlationId = input.correlationId ?? (parentId ? (correlationOf.get(parentId) ?? parentId) : id);
      correlationOf.set(id, correlationId);
      const notification: Notification = {
        id,
        type: input.type,
        source: { name: producer.name, version: input.source?.version ?? DEFAULT_SOURCE_VERSION },
        time: input.time ?? now,
        subject: input.subject,
        parentId,
        correlationId,
        channel: "http",
        data: input.data,
      };
      if (trace) {
        notification.traceparent = formatTraceparent(trace.traceId, spans!.next(), trace.flags);
        if (trace.tracestate) notification.tracestate = trace.tracestate;
      }
      return notification;
    });
  }

  /**
   * Producer-chosen ids the journal already holds are duplicates even after the broker's
   * duplicate window has passed. Ids the server makes are new by construction.
   */
  private alreadyJournaled(inputs: readonly NotificationInput[]) {
    return this.journal.findMany(inputs.flatMap((input) => (input.id ? [input.id] : [])));
  }

  private duplicate(id: string, journaled: { seq: number }): PublishResult {
    this.metrics.notificationsDuplicate.inc();
    return { id, sequence: journaled.seq, duplicate: true };
  }

  private remember(notification: Notification): void {
    if (this.recentCorrelations.size >= RECENT_CORRELATIONS) {
      // Maps iterate in insertion order: drop the oldest.
      this.recentCorrelations.delete(this.recentCorrelations.keys().next().value!);
    }
    this.recentCorrelations.set(notification.id, notification.correlationId);
  }
}

/** Span ids for a request's notifications, drawn in one go: one call for the random bytes rather than one per notification. */
class SpanIds {
  private readonly hex: string;
  private offset = 0;

  constructor(count: number) {
    this.hex = randomBytes(8 * count).toString("hex");
  }

  next(): string {
    const id = this.hex.slice(this.offset, this.offset + 16);
    this.offset += 16;
    // An all-zero span id is invalid (W3C); a fresh one is drawn in the 2^-64 case.
    return id === ZERO_SPAN ? newSpanId() : id;
  }
}

const ZERO_SPAN = "0".repeat(16);

/** Metrics of a batch, counted up and reported once per type rather than once per notification. */
class AcceptCounts {
  private readonly accepted = new Map<string, number>();
  private duplicates = 0;

  add(notification: Notification, result: PublishResult): void {
    if (result.duplicate) this.duplicates++;
    else this.accepted.set(notification.type, (this.accepted.get(notification.type) ?? 0) + 1);
  }

  report(metrics: Metrics): void {
    if (this.duplicates > 0) metrics.notificationsDuplicate.inc(this.duplicates);
    for (const [type, count] of this.accepted) metrics.notificationsAccepted.inc({ type }, count);
  }
}

function sourceNameMismatch(input: NotificationInput, producer: Producer, path: string): FieldError | undefined {
  const given = input.source?.name;
  if (given === undefined || given === producer.name) return undefined;
  return { path, message: `is taken from the credential (${producer.name}); omit it` };
}

function checkSourceName(input: NotificationInput, producer: Producer, path: string): void {
  const mismatch = sourceNameMismatch(input, producer, path);
  if (mismatch) throw new AppError("validation_failed", describeFieldErrors([mismatch]), [mismatch]);
}

function invalid(index: number, errors: FieldError[]): ItemResult {
  return { index, error: { code: "validation_failed", detail: describeFieldErrors(errors), errors } };
}
