import { createHash, randomBytes } from "node:crypto";

/** W3C Trace Context (https://www.w3.org/TR/trace-context/): the part certflow keeps and passes on. */
export interface TraceContext {
  traceId: string;
  /** The caller's span: the parent of what certflow does for this request. */
  parentSpanId: string | null;
  flags: string;
  tracestate: string | null;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TRACESTATE = /^[\x20-\x7e]{1,512}$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/**
 * The request's trace context. A missing or malformed `traceparent` (wrong version, length,
 * case, or an all-zero id) is ignored, as the W3C recommendation says, and a new root trace is
 * made; `tracestate` is kept only beside a valid `traceparent`.
 */
export function traceContextOf(traceparent: string | undefined, tracestate: string | undefined): TraceContext {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (!match || match[1] === ZERO_TRACE || match[2] === ZERO_SPAN) {
    return { traceId: randomBytes(16).toString("hex"), parentSpanId: null, flags: "01", tracestate: null };
  }
  const state = tracestate?.trim();
  return { traceId: match[1]!, parentSpanId: match[2]!, flags: match[3]!, tracestate: state && TRACESTATE.test(state) ? state : null };
}

export const newSpanId = (): string => randomBytes(8).toString("hex");

/** A span id derived from what it stands for, so the same attempt always has the same one. */
export const derivedSpanId = (...parts: Array<string | number>): string =>
  createHash("sha256").update(parts.join("/")).digest("hex").slice(0, 16);

export const formatTraceparent = (traceId: string, spanId: string, flags = "01"): string => `00-${traceId}-${spanId}-${flags}`;

export function parseTraceparent(traceparent: string | undefined): { traceId: string; spanId: string; flags: string } | undefined {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  return match ? { traceId: match[1]!, spanId: match[2]!, flags: match[3]! } : undefined;
}

/** The span of one delivery attempt (the trace API and the webhook's `traceparent` agree on it). */
export const attemptSpanId = (subscriptionId: string, phase: string, sequence: number, attempt: number): string =>
  derivedSpanId("attempt", subscriptionId, phase, sequence, attempt);
