import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { FilterSchema } from "../../core/filters.js";
import { PageQuerySchema, bearer, json, jsonBody, problems } from "../../core/http/openapi.js";
import {
  CreateSubscriptionSchema,
  DeliverySchema,
  SloSchema,
  SubscriptionNameSchema,
  UpdateSubscriptionSchema,
  WebhookSecretSchema,
} from "./subscription.js";

export const SubscriptionSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    filters: z.array(FilterSchema),
    delivery: DeliverySchema,
    status: z.enum(["active", "paused", "disabled"]),
    statusReason: z.string().nullable(),
    ackTimeoutSeconds: z.number().int(),
    maxDeliveries: z.number().int(),
    slo: SloSchema.nullable(),
    prefill: z.object({
      enabled: z.boolean(),
      status: z.enum(["pending", "running", "done", "failed"]),
      total: z.number().int(),
      sent: z.number().int(),
      error: z.string().nullable(),
    }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Subscription");

export const PositionSchema = z
  .object({
    ackFloorSequence: z.number().int().openapi({ description: "Every live message up to this stream sequence is finished" }),
    lastDispatchedSequence: z.number().int().nullable().openapi({ description: "The newest notification queued into this subscription" }),
    pending: z.number().int().openapi({ description: "Messages waiting or in flight" }),
    inFlight: z.number().int().openapi({ description: "Handed out, neither settled nor timed out" }),
    oldestPendingAgeSeconds: z.number().openapi({ description: "Since the oldest unfinished live message was accepted; 0 when none" }),
  })
  .openapi("SubscriptionPosition");

const seconds = z.number().nullable();
const StatsSchema = PositionSchema.extend({
  acked: z.number().int(),
  ackedTotal: z.number().int().openapi({ description: "The same as acked: messages acknowledged since the subscription began" }),
  deadLettered: z.number().int().openapi({ description: "Messages in dead letters now" }),
  oldestPendingAt: z.string().nullable().openapi({ description: "When the oldest live message still waiting or in flight was accepted" }),
  deliveredTotal: z.number().int().openapi({ description: "Messages handed out, redeliveries included" }),
  windowSeconds: z.number().int().openapi({ description: "The recent window latencies and attempts are taken over (CERTFLOW_STATS_WINDOW_SECONDS)" }),
  ackLatencySeconds: z
    .object({ p50: seconds, p95: seconds, p99: seconds })
    .openapi({ description: "Accept-to-ack latency of the newest 1,000 live messages acked in the window; null without any" }),
  attemptsPerMessage: z.number().nullable().openapi({ description: "Deliveries per message, over the same acks as ackLatencySeconds" }),
  slo: z
    .object({ maxLagSeconds: z.number().int(), laggingSince: z.string().nullable(), breaches: z.number().int() })
    .nullable()
    .openapi({ description: "With a declared SLO: whether it is breached now (since when) and how many breaches there were" }),
}).openapi("SubscriptionStats");

export const RewindSchema = z
  .union([
    z.strictObject({ fromSequence: z.number().int().min(1).openapi({ description: "First stream sequence to deliver again" }) }),
    z.strictObject({ fromTime: z.iso.datetime({ offset: true }).openapi({ description: "Deliver again from the first notification accepted at or after this time" }) }),
  ], { error: 'expected {"fromSequence": n} or {"fromTime": "RFC 3339 time"}' })
  .openapi("Rewind");

export const NameParamSchema = z.object({ name: SubscriptionNameSchema.openapi({ param: { name: "name", in: "path" } }) });

export const createSubscriptionRoute = authorizedRoute({
  access: ["admin"],
  method: "post",
  path: "/v1/subscriptions",
  tags: ["subscriptions"],
  summary: "Create a subscription",
  description:
    "Admin token. Returns the subscription's own token once. The identical request again answers 200 without a token; a different one under the same name 409. Every notification accepted after the 201 is delivered to it.",
  security: bearer,
  request: { body: jsonBody(CreateSubscriptionSchema) },
  responses: {
    201: json(
      z.object({
        subscription: SubscriptionSchema,
        token: z.string(),
        secret: z.string().optional().openapi({ description: "Push subscriptions: the webhook signing secret, shown once" }),
      }),
      "Created",
    ),
    200: json(z.object({ subscription: SubscriptionSchema }), "Already exists with this exact configuration"),
    ...problems(409, 503),
  },
});

export const listSubscriptionsRoute = authorizedRoute({
  access: ["admin"],
  method: "get",
  path: "/v1/subscriptions",
  tags: ["subscriptions"],
  summary: "List subscriptions",
  description:
    "Admin token. Cursor-paginated, by name.",
  security: bearer,
  request: { query: PageQuerySchema },
  responses: {
    200: json(z.object({ data: z.array(SubscriptionSchema), nextCursor: z.string().nullable() }), "A page, by name"),
    ...problems(),
  },
});

export const getSubscriptionRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "get",
  path: "/v1/subscriptions/{name}",
  tags: ["subscriptions"],
  summary: "Describe a subscription, with prefill progress and queue statistics",
  description:
    "Admin or the subscription's own token. `stats.pending` counts messages waiting or in flight.",
  security: bearer,
  request: { params: NameParamSchema },
  responses: { 200: json(SubscriptionSchema.extend({ stats: StatsSchema }), "The subscription"), ...problems(404) },
});

export const updateSubscriptionRoute = authorizedRoute({
  access: ["admin"],
  method: "patch",
  path: "/v1/subscriptions/{name}",
  tags: ["subscriptions"],
  summary: "Change filters, delivery settings, or pause and resume",
  description:
    "Admin token. Only the fields sent change. A paused subscription keeps queueing and its pulls answer 409; `status: active` resumes it (or re-enables a disabled push subscription).",
  security: bearer,
  request: { params: NameParamSchema, body: jsonBody(UpdateSubscriptionSchema) },
  responses: { 200: json(SubscriptionSchema, "Updated"), ...problems(404) },
});

export const deleteSubscriptionRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "delete",
  path: "/v1/subscriptions/{name}",
  tags: ["subscriptions"],
  summary: "Delete a subscription and its queue",
  description:
    "Admin or the subscription's own token. Its pending messages and dead letters go with it.",
  security: bearer,
  request: { params: NameParamSchema },
  responses: { 204: { description: "Deleted" }, ...problems(404) },
});

export const resumeSubscriptionRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "post",
  path: "/v1/subscriptions/{name}/resume",
  tags: ["subscriptions"],
  summary: "Resume a paused or disabled subscription",
  description:
    "Admin or the subscription's own token. Everything queued while it was paused or disabled is delivered, in per-subject order, each once (push: with its webhook-id); a disabled one publishes subscription.resumed. Resuming an active subscription changes nothing.",
  security: bearer,
  request: { params: NameParamSchema },
  responses: { 200: json(SubscriptionSchema, "Active"), ...problems(404) },
});

export const rewindSubscriptionRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "post",
  path: "/v1/subscriptions/{name}/rewind",
  tags: ["messages"],
  summary: "Deliver again every matching notification from a sequence or a time on",
  description:
    "Admin or the subscription's own token. The subscription's current filters are evaluated again against the journal; every match from that point (acked ones included) is delivered again in order, each once, then live messages follow with no gap. Leases in flight from that point are expired (their ack ids answer `expired`) and the messages come again in order. A rewind starts no earlier than the subscription's first live sequence.",
  security: bearer,
  request: { params: NameParamSchema, body: jsonBody(RewindSchema) },
  responses: {
    200: json(
      z.object({
        fromSequence: z.number().int(),
        requeued: z.number().int().openapi({ description: "Notifications queued again" }),
        expiredLeases: z.number().int().openapi({ description: "Leases in flight the rewind ended" }),
      }),
      "Queued again",
    ),
    ...problems(404, 409),
  },
});

export const positionRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "get",
  path: "/v1/subscriptions/{name}/position",
  tags: ["messages"],
  summary: "Where the subscription's queue stands",
  description:
    "Admin or the subscription's own token. `ackFloorSequence`: every live message up to it is finished; `lastDispatchedSequence`: the newest queued; `pending`, `inFlight` and `oldestPendingAgeSeconds` as in `stats`.",
  security: bearer,
  request: { params: NameParamSchema },
  responses: { 200: json(PositionSchema, "The position"), ...problems(404) },
});

export const rotateTokenRoute = authorizedRoute({
  access: ["admin"],
  method: "post",
  path: "/v1/subscriptions/{name}/token",
  tags: ["subscriptions"],
  summary: "Issue a new token for a subscription; the old one stops working",
  description:
    "Admin token. The token is shown once.",
  security: bearer,
  request: { params: NameParamSchema },
  responses: { 200: json(z.object({ token: z.string() }), "The new token, shown once"), ...problems(404) },
});

export const rotateSecretRoute = authorizedRoute({
  access: ["admin"],
  method: "post",
  path: "/v1/subscriptions/{name}/secret",
  tags: ["push"],
  summary: "Rotate a push subscription's signing secret",
  description:
    "Admin token. Returns the new secret once. During the grace period (CERTFLOW_PUSH_SECRET_GRACE_SECONDS) requests carry a signature by each secret.",
  security: bearer,
  request: {
    params: NameParamSchema,
    body: { required: false, content: { "application/json": { schema: z.strictObject({ secret: WebhookSecretSchema.optional() }) } } },
  },
  responses: {
    200: json(z.object({ secret: z.string(), previousValidUntil: z.string() }), "The new secret"),
    ...problems(404, 409),
  },
});

const AttemptSchema = z
  .object({
    id: z.number().int(),
    phase: z.enum(["prefill", "live"]),
    sequence: z.number().int(),
    attempt: z.number().int(),
    webhookId: z.string(),
    url: z.string(),
    startedAt: z.string(),
    outcome: z.enum(["succeeded", "failed"]),
    statusCode: z.number().int().nullable(),
    latencyMs: z.number().int(),
    error: z.string().nullable(),
  })
  .openapi("DeliveryAttempt");

export const listAttemptsRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "get",
  path: "/v1/subscriptions/{name}/deliveries",
  tags: ["push"],
  summary: "The attempt log of a push subscription, newest first",
  description:
    "Admin or the subscription's own token. One entry per webhook request: status, duration, error; `status` filters.",
  security: bearer,
  request: {
    params: NameParamSchema,
    query: PageQuerySchema.extend({ status: z.enum(["succeeded", "failed"]).optional().openapi({ description: "Only attempts with this outcome" }) }),
  },
  responses: {
    200: json(z.object({ data: z.array(AttemptSchema), nextCursor: z.string().nullable() }), "A page of attempts"),
    ...problems(404),
  },
});
