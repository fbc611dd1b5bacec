import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { MessageSchema } from "../../core/notifications/delivered.js";
import { NotificationSchema } from "../../core/notifications/envelope.js";
import { PageQuerySchema, bearer, json, jsonBody, problems } from "../../core/http/openapi.js";
import { parseAckId } from "../../mom/ledger/ledger.js";
import { NameParamSchema } from "../subscriptions/routes.js";

export const MAX_PULL = 1000;
export const MAX_WAIT_SECONDS = 30;

const AckIdSchema = z
  .string()
  .transform((text, ctx) => {
    const ackId = parseAckId(text);
    if (!ackId) {
      ctx.addIssue({ code: "custom", message: "not an ackId this API returned (like l1234.1)" });
      return z.NEVER;
    }
    return ackId;
  })
  .openapi({ type: "string", example: "l1234.1" });

const AckIdsSchema = z
  .array(AckIdSchema)
  .min(1, { error: "list at least one ackId" })
  .max(MAX_PULL, { error: `list at most ${MAX_PULL} ackIds` });



const SettleResultsSchema = z.object({
  results: z.array(
    z.object({
      ackId: z.string(),
      status: z.enum(["acked", "nacked", "dead_lettered", "expired", "not_found"]).openapi({
        description: "`expired`: handed out again since, this ackId no longer counts; `not_found`: not pending (already settled or unknown)",
      }),
    }),
  ),
});

const DeadLetterIdSchema = z
  .string()
  .regex(/^[pl]\d{1,18}$/, { error: "not a dead-letter id this API returned (like l1234)" });

export const pullRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "get",
  path: "/v1/subscriptions/{name}/messages",
  tags: ["messages"],
  summary: "Pull a batch of messages (long-poll)",
  description:
    "Answers as soon as at least one message is available, or with an empty list after `wait` seconds. Messages of one subject come one at a time, in order: the next is handed out once the previous is acked or dead-lettered.",
  security: bearer,
  request: {
    params: NameParamSchema,
    query: z.object({
      max: z.coerce.number().int().min(1).max(MAX_PULL).default(100),
      wait: z.coerce.number().min(0).max(MAX_WAIT_SECONDS).default(0).openapi({ description: "Seconds to wait when none is available" }),
    }),
  },
  responses: { 200: json(z.object({ messages: z.array(MessageSchema) }), "Messages (possibly none)"), ...problems(404, 409) },
});

export const pullWithAcksRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "post",
  path: "/v1/subscriptions/{name}/pull",
  tags: ["messages"],
  summary: "Acknowledge the last batch and pull the next (long-poll), in one round trip",
  description:
    "Acks `ackIds` first (as `POST .../acks` does), then answers like `GET .../messages`: as soon as at least one message is available, or with an empty list after `wait` seconds. Acking first frees the next message of each acked subject for this very pull.",
  security: bearer,
  request: {
    params: NameParamSchema,
    body: jsonBody(
      z.strictObject({
        ackIds: z.array(AckIdSchema).max(MAX_PULL, { error: `list at most ${MAX_PULL} ackIds` }).default([]),
        max: z.number().int().min(1).max(MAX_PULL).default(100),
        wait: z.number().min(0).max(MAX_WAIT_SECONDS).default(0).openapi({ description: "Seconds to wait when none is available" }),
      }),
    ),
  },
  responses: {
    200: json(
      SettleResultsSchema.extend({ messages: z.array(MessageSchema) }),
      "What happened to each ackId, and the next messages (possibly none)",
    ),
    ...problems(404, 409),
  },
});

const settleRoute = <V extends "acks" | "nacks" | "rejects", B extends z.ZodType>(verb: V, summary: string, description: string, body: B) =>
  authorizedRoute({
    access: ["admin", "subscription"],
    method: "post",
    path: `/v1/subscriptions/{name}/${verb}` as `/v1/subscriptions/{name}/${V}`,
    tags: ["messages"],
    summary,
    description: `${description} Admin or the subscription's own token. Each ackId is answered on its own: \`expired\` once its message was handed out again.`,
    security: bearer,
    request: { params: NameParamSchema, body: jsonBody(body) },
    responses: { 200: json(SettleResultsSchema, "What happened to each ackId"), ...problems(404) },
  });

export const ackRoute = settleRoute("acks", "Acknowledge messages", "The messages are done; the next message of each subject is released.", z.strictObject({ ackIds: AckIdsSchema }));

export const nackRoute = settleRoute(
  "nacks",
  "Hand messages back for redelivery, after an optional delay",
  "Each comes back after `delaySeconds` and still blocks its subject meanwhile; past `maxDeliveries` it is dead-lettered.",
  z.strictObject({
    ackIds: AckIdsSchema,
    delaySeconds: z.number().int().min(0).max(43_200).default(0),
  }),
);

export const rejectRoute = settleRoute("rejects", "Dead-letter messages now", "For messages that can never be processed; the next message of each subject is released.", z.strictObject({ ackIds: AckIdsSchema }));

export const deadLettersRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "get",
  path: "/v1/subscriptions/{name}/dead-letters",
  tags: ["dead letters"],
  summary: "List dead letters, in stream order",
  description:
    "Admin or the subscription's own token. Cursor-paginated; each says why it was dead-lettered.",
  security: bearer,
  request: { params: NameParamSchema, query: PageQuerySchema },
  responses: {
    200: json(
      z.object({
        deadLetters: z.array(
          z.object({
            id: z.string(),
            phase: z.enum(["prefill", "live"]),
            sequence: z.number().int(),
            deliveryCount: z.number().int(),
            reason: z.string().openapi({ description: "rejected, max_deliveries" }),
            deadLetteredAt: z.string(),
            notification: NotificationSchema,
          }),
        ),
        nextCursor: z.string().nullable(),
      }),
      "A page of dead letters",
    ),
    ...problems(404),
  },
});

export const redriveRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "post",
  path: "/v1/subscriptions/{name}/dead-letters/redrive",
  tags: ["dead letters"],
  summary: "Return dead letters to the queue (all, or those named)",
  description:
    "Admin or the subscription's own token. Redriven messages get a fresh delivery count and keep their place in their subject's order.",
  security: bearer,
  request: {
    params: NameParamSchema,
    body: {
      required: false,
      content: { "application/json": { schema: z.strictObject({ ids: z.array(DeadLetterIdSchema).min(1).max(10_000).optional() }) } },
    },
  },
  responses: { 200: json(z.object({ redriven: z.number().int() }), "How many went back to the queue"), ...problems(404) },
});
