import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import { attemptSpanId, parseTraceparent } from "../../core/trace-context.js";
import { phaseName } from "../ledger/ledger.js";

export interface TraceAttempt {
  attempt: number;
  spanId: string | null;
  startedAt: string;
  outcome: "succeeded" | "failed";
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

export interface TraceDelivery {
  subscription: string;
  state: "pending" | "acked" | "dead" | "skipped";
  deliveryCount: number;
  lastDeliveredAt: string | null;
  /** When it was acked (or dead-lettered); null while pending. */
  finishedAt: string | null;
  /** Push subscriptions: every webhook attempt; pull ones have none (see deliveryCount). */
  attempts: TraceAttempt[];
}

export interface TraceNode {
  id: string;
  type: string;
  subject: string;
  sequence: number;
  acceptedAt: string;
  parentId: string | null;
  traceId: string | null;
  spanId: string | null;
  deliveries: TraceDelivery[];
  /** Notifications whose parentId is this one. */
  caused: TraceNode[];
}

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/**
 * Everything one correlation id covers, as a tree: each notification, its delivery into every
 * subscription, each webhook attempt, its acknowledgement, and the notifications it caused.
 * Read from the journal, the ledger and the attempt log; at most `maxNodes` notifications.
 */
export async function traceTree(db: Executor, correlationId: string, maxNodes: number): Promise<TraceNode[]> {
  const notifications = await sql<{ seq: number; id: string; type: string; subject: string; parent_id: string | null; accepted_at: Date; traceparent: string | null }>`
    SELECT seq, id, type, subject, parent_id, accepted_at, envelope->>'traceparent' AS traceparent
    FROM notifications WHERE correlation_id = ${correlationId} ORDER BY seq LIMIT ${maxNodes}
  `.execute(db);
  if (notifications.rows.length === 0) return [];
  const seqs = notifications.rows.map((row) => row.seq);
  const deliveries = await sql<{ seq: number; subscription_id: string; name: string; state: TraceDelivery["state"]; delivery_count: number; last_delivered_at: Date | null; finished_at: Date | null }>`
    SELECT d.seq, d.subscription_id, s.name, d.state, d.delivery_count, d.last_delivered_at, d.finished_at
    FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
    WHERE d.phase = 1 AND d.seq = ANY(${seqs}::bigint[]) ORDER BY d.seq, s.name
  `.execute(db);
  const attempts = await db
    .selectFrom("delivery_attempts")
    .selectAll()
    .where("phase", "=", 1)
    .where("seq", "in", seqs)
    .orderBy("id")
    .execute();

  const nodes = new Map<string, TraceNode>();
  const bySeq = new Map<number, TraceNode>();
  for (const row of notifications.rows) {
    const span = parseTraceparent(row.traceparent ?? undefined);
    const node: TraceNode = {
      id: row.id,
      type: row.type,
      subject: row.subject,
      sequence: row.seq,
      acceptedAt: row.accepted_at.toISOString(),
      parentId: row.parent_id,
      traceId: span?.traceId ?? null,
      spanId: span?.spanId ?? null,
      deliveries: [],
      caused: [],
    };
    nodes.set(row.id, node);
    bySeq.set(row.seq, node);
  }
  const deliveryOf = new Map<string, TraceDelivery>();
  for (const row of deliveries.rows) {
    const delivery: TraceDelivery = {
      subscription: row.name,
      state: row.state,
      deliveryCount: row.delivery_count,
      lastDeliveredAt: iso(row.last_delivered_at),
      finishedAt: iso(row.finished_at),
      attempts: [],
    };
    bySeq.get(row.seq)!.deliveries.push(delivery);
    deliveryOf.set(`${row.subscription_id}/${row.seq}`, delivery);
  }
  for (const row of attempts) {
    deliveryOf.get(`${row.subscription_id}/${row.seq}`)?.attempts.push({
      attempt: row.attempt,
      spanId: bySeq.get(row.seq)?.traceId ? attemptSpanId(row.subscription_id, phaseName(row.phase), row.seq, row.attempt) : null,
      startedAt: row.started_at.toISOString(),
      outcome: row.outcome,
      statusCode: row.status_code,
      latencyMs: row.latency_ms,
      error: row.error,
    });
  }
  const roots: TraceNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.parentId ? nodes.get(node.parentId) : undefined;
    if (parent) parent.caused.push(node);
    else roots.push(node);
  }
  return roots;
}
