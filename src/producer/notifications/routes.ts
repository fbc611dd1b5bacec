import { createRoute, z } from "@hono/zod-openapi";
import { NotificationInputSchema } from "../../core/notifications/envelope.js";
import { bearer, json, jsonBody, problems } from "../../core/http/openapi.js";

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

export const publishRoute = createRoute({
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

export const publishBatchRoute = createRoute({
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
