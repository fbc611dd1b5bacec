import { z } from "@hono/zod-openapi";
import { NotificationSchema } from "./envelope.js";

/** A notification as a subscriber receives it (pulled; a webhook carries the notification alone). */
export const MessageSchema = z
  .object({
    ackId: z.string().openapi({ description: "Settles this delivery; stops working once the message is handed out again" }),
    sequence: z.number().int().openapi({ description: "Stream sequence (live) or snapshot position (prefill)" }),
    deliveryCount: z.number().int(),
    phase: z.enum(["prefill", "live"]),
    notification: NotificationSchema,
  })
  .openapi("Message");
