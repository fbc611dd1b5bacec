import { z } from "@hono/zod-openapi";
import type { App } from "../../../core/http/env.js";
import {
  CHANNELS,
  NOTIFICATION_TYPES,
  NotificationSchema,
  componentStem,
  dataComponent,
  type NotificationType,
} from "../../../core/notifications/envelope.js";

/** What `pushBody` sends in the `cloudevents` format: a structured CloudEvent 1.0 per notification type. */
const cloudEventOf = <T extends NotificationType>(type: T) =>
  z
    .object({
      specversion: z.literal("1.0"),
      id: z.uuid().openapi({ description: "The notification id" }),
      type: z.literal(type),
      source: z.string().openapi({ description: "`/certflow/sources/{producer}`" }),
      time: z.string(),
      subject: z.string().openapi({ description: "The certificate id" }),
      datacontenttype: z.literal("application/json"),
      data: dataComponent(type),
      correlationid: z.uuid(),
      parentid: z.uuid().optional().openapi({ description: "Absent on a chain's root" }),
      channel: z.enum(CHANNELS),
      sourceversion: z.string(),
    })
    .openapi(`${componentStem(type)}CloudEvent`);

const CloudEventSchema = z
  .discriminatedUnion("type", NOTIFICATION_TYPES.map(cloudEventOf) as unknown as [ReturnType<typeof cloudEventOf<NotificationType>>])
  .openapi("CloudEvent");

const header = (description: string, example?: string) =>
  z.string().openapi({ description, ...(example === undefined ? {} : { example }) });

/** The request certflow sends to a push subscription's URL, described as an OpenAPI 3.1 webhook. */
export function registerWebhooks(router: App): void {
  router.openAPIRegistry.registerWebhook({
    method: "post",
    path: "notification",
    tags: ["push"],
    operationId: "notificationWebhook",
    summary: "A notification pushed to a subscription's URL",
    description:
      "Signed per Standard Webhooks: verify `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, one per valid secret) with the subscription's `whsec_` secret before trusting the body. The body is the notification envelope (`delivery.format: envelope`) or a structured CloudEvent (`cloudevents`). The same notification may arrive more than once (same `webhook-id`): handle it idempotently.",
    request: {
      headers: z.object({
        "webhook-id": header("The notification id; the same on every retry"),
        "webhook-timestamp": header("Seconds since the epoch when this attempt was signed", "1767225600"),
        "webhook-signature": header("`v1,<base64 signature>`, one per valid secret, space-separated"),
        "certflow-subscription": header("The subscription's name"),
        "certflow-phase": z.enum(["prefill", "live"]),
        "certflow-sequence": header("The message's sequence in the subscription"),
        "certflow-attempt": header("1 on the first attempt"),
      }),
      body: {
        required: true,
        content: {
          "application/json": { schema: NotificationSchema },
          "application/cloudevents+json": { schema: CloudEventSchema },
        },
      },
    },
    responses: {
      200: { description: "Any 2xx: delivered" },
      410: { description: "Gone: certflow disables the subscription" },
      default: { description: "Anything else (and timeouts): retried on the schedule, honouring `Retry-After`, then dead-lettered" },
    },
  });
}
