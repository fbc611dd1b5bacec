import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { bearer, json, problems } from "../../core/http/openapi.js";

const AttemptSchema = z.object({
  attempt: z.number().int(),
  spanId: z.string().nullable().openapi({ description: "The attempt's span; the webhook's traceparent names it" }),
  startedAt: z.string(),
  outcome: z.enum(["succeeded", "failed"]),
  statusCode: z.number().int().nullable(),
  latencyMs: z.number().int(),
  error: z.string().nullable(),
});

const DeliverySchema = z.object({
  subscription: z.string(),
  state: z.enum(["pending", "acked", "dead", "skipped"]),
  deliveryCount: z.number().int(),
  lastDeliveredAt: z.string().nullable(),
  finishedAt: z.string().nullable().openapi({ description: "When it was acked (state acked) or dead-lettered" }),
  attempts: z.array(AttemptSchema).openapi({ description: "Webhook attempts (push); empty for pull" }),
});

const TraceNodeSchema: z.ZodType = z
  .lazy(() =>
    z.object({
      id: z.uuid(),
      type: z.string(),
      subject: z.string(),
      sequence: z.number().int(),
      acceptedAt: z.string(),
      parentId: z.uuid().nullable(),
      traceId: z.string().nullable().openapi({ description: "W3C trace id" }),
      spanId: z.string().nullable(),
      deliveries: z.array(DeliverySchema),
      caused: z.array(TraceNodeSchema).openapi({ description: "Notifications whose parentId is this one" }),
    }),
  )
  .openapi("TraceNode", { type: "object" });

export const traceTreeRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/traces/{correlationId}",
  tags: ["notifications"],
  summary: "The whole tree of a correlation id: notifications, deliveries per subscription, attempts, acks, and what they caused",
  description:
    "Admin or producer token. Every notification of the chain with its deliveries per subscription, each delivery's attempts (status, latency, span), its ack, and the notifications it caused (by parentId); every node carries the W3C trace id it belongs to.",
  security: bearer,
  request: { params: z.object({ correlationId: z.uuid({ error: "expected a UUID" }).openapi({ param: { name: "correlationId", in: "path" } }) }) },
  responses: {
    200: json(z.object({ correlationId: z.uuid(), roots: z.array(TraceNodeSchema) }), "The tree"),
    ...problems(404),
  },
});
