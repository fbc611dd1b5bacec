import { SpanKind, SpanStatusCode, TraceFlags, type HrTime } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { Config } from "./config.js";

/** A finished piece of work in a notification's trace, with the ids certflow already gave it. */
export interface FinishedSpan {
  name: string;
  kind: "server" | "client" | "internal";
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  start: Date;
  end: Date;
  failed?: boolean;
  attributes: Record<string, string | number | boolean>;
}

/** Where spans go: OTLP over HTTP when configured, nowhere otherwise. */
export interface Tracing {
  record(span: FinishedSpan): void;
  shutdown(): Promise<void>;
}

export const NO_TRACING: Tracing = { record: () => {}, shutdown: async () => {} };

const KIND = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;
const SCOPE = { name: "certflow" };

const hrTime = (date: Date): HrTime => [Math.floor(date.getTime() / 1000), (date.getTime() % 1000) * 1_000_000];

/**
 * Exports spans through the OpenTelemetry SDK's batch processor and OTLP/HTTP exporter. The
 * spans keep the ids in the notifications' `traceparent` and the webhooks' headers, so what a
 * collector shows and what `GET /v1/traces/{correlationId}` shows are the same tree.
 */
export function createTracing(config: Config["tracing"], version: string): Tracing {
  if (!config.otlpTracesUrl) return NO_TRACING;
  const resource = resourceFromAttributes({ "service.name": config.serviceName, "service.version": version });
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlpTracesUrl }), { scheduledDelayMillis: 500 });
  return {
    record(span) {
      const duration = Math.max(0, span.end.getTime() - span.start.getTime());
      const readable: ReadableSpan = {
        name: span.name,
        kind: KIND[span.kind],
        spanContext: () => ({ traceId: span.traceId, spanId: span.spanId, traceFlags: TraceFlags.SAMPLED }),
        parentSpanContext: span.parentSpanId ? { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: TraceFlags.SAMPLED } : undefined,
        startTime: hrTime(span.start),
        endTime: hrTime(span.end),
        duration: [Math.floor(duration / 1000), (duration % 1000) * 1_000_000],
        status: { code: span.failed ? SpanStatusCode.ERROR : SpanStatusCode.OK },
        attributes: span.attributes,
        links: [],
        events: [],
        ended: true,
        resource,
        instrumentationScope: SCOPE,
        droppedAttributesCount: 0,
        droppedEventsCount: 0,
        droppedLinksCount: 0,
      };
      processor.onEnd(readable);
    },
    shutdown: () => processor.shutdown(),
  };
}
