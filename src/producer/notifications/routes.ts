import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { NotificationInputSchema, NotificationSchema } from "../../core/notifications/envelope.js";
import { PastRetentionSchema, bearer, json, jsonBody, problems } from "../../core/http/openapi.js";

export const MAX_BATCH = 1000;

const PublishResultSchema = z
  .object({
    id: z.uuid(),
    sequence: z.number().int().openapi({ description: "Position in the notifications stream" }),
    duplicate: z.boolean().openapi({ description: "True when this id was accepted before; nothing is delivered again" }),
  })
  .openapi("PublishResult");

const ItemResultSchema = z
  .union([
    PublishResultSchema.extend({ index: z.number().int() }),
    z.object({
      index: z.number().int(),
      error: z.object({
        code: z.enum(["validation_failed", "unavailable"]),
        detail: z.string(),
        errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
      }),
    }),
  ])
  .openapi("BatchItemResult");

export const publishRoute = authorizedRoute({
  access: ["producer"],
  method: "post",
  path: "/v1/notifications",
  tags: ["notifications"],
  summary: "Publish a notification",
  description:
    "Producer token. Accepted once the broker has stored it. The same `id` again is answered with `duplicate: true` and is not delivered again.",
  security: bearer,
  request: { body: jsonBody(NotificationInputSchema) },
  responses: { 202: json(PublishResultSchema, "Accepted"), ...problems(503) },
});

export const publishBatchRoute = authorizedRoute({
  access: ["producer"],
  method: "post",
  path: "/v1/notifications/batch",
  tags: ["notifications"],
  summary: "Publish up to 1,000 notifications",
  description: "Producer token. Each item is validated and published on its own; `results[i]` answers `notifications[i]`.",
  security: bearer,
  request: {
    body: jsonBody(
      z.strictObject({
        notifications: z
          .array(z.unknown())
          .min(1, { error: "send at least one notification" })
          .max(MAX_BATCH, { error: `send at most ${MAX_BATCH} notifications per batch` })
          .openapi({ type: "array", items: { $ref: "#/components/schemas/NotificationInput" } }),
      }),
    ),
  },
  responses: { 202: json(z.object({ results: z.array(ItemResultSchema) }), "One result or error per item"), ...problems() },
});

const IdParamSchema = z.object({ id: z.uuid({ error: "expected a notification id (UUID)" }).openapi({ param: { name: "id", in: "path" } }) });

const DeliveryStateSchema = z
  .object({
    subscription: z.string(),
    phase: z.literal("live"),
    status: z.enum(["pending", "delivered", "acked", "dead_lettered", "skipped"]).openapi({
      description: "`delivered`: handed out, not yet acked; `skipped`: covered by the subscription's prefill snapshot",
    }),
    deliveryCount: z.number().int(),
    lastDeliveredAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    deadLetterReason: z.string().nullable(),
  })
  .openapi("DeliveryState");


export const getNotificationRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/notifications/{id}",
  tags: ["notifications"],
  summary: "A notification and its delivery state per subscription",
  description: "Admin, or the producer that published it.",
  security: bearer,
  request: { params: IdParamSchema },
  responses: {
    200: json(
      z.object({
        sequence: z.number().int(),
        acceptedAt: z.string(),
        notification: NotificationSchema,
        deliveries: z.array(DeliveryStateSchema),
        pastRetention: PastRetentionSchema,
      }),
      "The notification",
    ),
    ...problems(404),
  },
});

const TraceTreeSchema = z
  .object({
    notification: NotificationSchema,
    get children(): z.ZodArray<typeof TraceTreeSchema> {
      return z.array(TraceTreeSchema).openapi({ description: "Notifications whose parentId is this one, in stream order" });
    },
  })
  .openapi("TraceTree", { description: "A notification and, recursively, the notifications it caused" });

export const traceRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/notifications/{id}/trace",
  tags: ["notifications"],
  summary: "The causal tree of a notification: its ancestors and descendants through parentId",
  description:
    "Admin, or the producer that published it. `ancestors` runs from the root to the parent; `descendants` is the tree of what it caused.",
  security: bearer,
  request: { params: IdParamSchema },
  responses: {
    200: json(
      z.object({
        notification: NotificationSchema,
        ancestors: z.array(NotificationSchema).openapi({ description: "Root first, the parent last" }),
        descendants: z.array(TraceTreeSchema),
        pastRetention: PastRetentionSchema,
      }),
      "The causal tree",
    ),
    ...problems(404),
  },
});
