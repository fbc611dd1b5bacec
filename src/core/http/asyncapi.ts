import { z } from "@hono/zod-openapi";
import { MessageSchema } from "../notifications/delivered.js";
import { CERTIFICATE_TYPES, DATA_SCHEMAS, NOTIFICATION_TYPES, NotificationSchema, type NotificationType } from "../notifications/envelope.js";
import { OPERATIONAL_TYPES, PREFILL_COMPLETED } from "../notifications/operational.js";

/** Types that travel on the notifications stream: everything but what prefill makes when it is read. */
const STREAM_TYPES = [...CERTIFICATE_TYPES.filter((type) => type !== "certificate.snapshot"), ...OPERATIONAL_TYPES];

const DESCRIPTIONS: Partial<Record<NotificationType, string>> = {
  "certificate.snapshot": "A certificate's state as of the prefill position P (prefill only)",
  [PREFILL_COMPLETED]: "The prefill boundary: after the last snapshot, before the first live message",
  "subscription.disabled": "A push subscription was disabled; it keeps queueing until resumed",
  "subscription.resumed": "A paused or disabled subscription is active again; its backlog follows",
  "subscription.lagging": "A subscription's oldest waiting message is older than its SLO allows",
  "subscription.recovered": "A lagging subscription meets its SLO again",
};

/** JSON Schema (draft 7, which AsyncAPI's default schema format extends) of a zod schema: the same ones the OpenAPI document is made from. */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: "draft-7", io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

/** The envelope of one type: `type` fixed, `data` that type's schema. */
function envelopeOf(type: NotificationType) {
  const envelope = jsonSchema(NotificationSchema) as { properties: Record<string, unknown> };
  return { ...envelope, properties: { ...envelope.properties, type: { const: type }, data: jsonSchema(DATA_SCHEMAS[type]) } };
}

const messageRef = (type: string) => ({ $ref: `#/components/messages/${type}` });
const refsOf = (types: readonly string[]) => Object.fromEntries(types.map((type) => [type, messageRef(type)]));
const channelMessages = (channel: string, types: readonly string[]) => types.map((type) => ({ $ref: `#/channels/${channel}/messages/${type}` }));

/**
 * certflow's broker channels and messages as an AsyncAPI 3.0 document: the notifications stream
 * (what producers publish and the dispatcher reads), delivery to subscriptions (pulled), and
 * webhooks (pushed), with one message per notification type.
 */
export function asyncApiDocument(version: string) {
  const delivered = [...NOTIFICATION_TYPES];
  return {
    asyncapi: "3.0.0",
    info: {
      title: "certflow",
      version,
      description:
        "Notifications of energy certificates and of certflow itself. Producers publish over `POST /v1/notifications` into a JetStream stream; the dispatcher fans them out into each subscription's queue, which is pulled over HTTP or pushed to a signed webhook (Standard Webhooks).",
    },
    defaultContentType: "application/json",
    servers: {
      nats: { host: "127.0.0.1:4222", protocol: "nats", description: "NATS JetStream (NATS_URL); stream `<namespace>_NOTIFICATIONS`" },
      api: { host: "127.0.0.1:8080", protocol: "http", description: "certflow's HTTP API (pull delivery)" },
    },
    channels: {
      notifications: {
        address: "{namespace}.notifications.{partition}",
        title: "The notifications stream",
        description: "Every accepted notification, partitioned by hash(subject); `Nats-Msg-Id` is the notification id.",
        servers: [{ $ref: "#/servers/nats" }],
        parameters: {
          namespace: { description: "CERTFLOW_NAMESPACE" },
          partition: { description: "0 … CERTFLOW_PARTITIONS - 1: hash(subject) mod partitions" },
        },
        messages: refsOf(STREAM_TYPES),
      },
      subscriptionMessages: {
        address: "/v1/subscriptions/{name}/messages",
        title: "Delivery to a subscription (pull)",
        description: "Long-poll a batch; each message wraps a notification with its ackId, sequence, delivery count and phase.",
        servers: [{ $ref: "#/servers/api" }],
        parameters: { name: { description: "The subscription's name" } },
        messages: { delivered: { $ref: "#/components/messages/delivered" } },
      },
      webhook: {
        address: "{url}",
        title: "Delivery to a subscription (push)",
        description:
          "POSTed to the subscription's URL with `webhook-id` (the notification id, the same on every retry), `webhook-timestamp` and `webhook-signature`; the body is the notification (or a structured CloudEvent).",
        parameters: { url: { description: "The subscription's `delivery.url`" } },
        messages: refsOf(delivered),
      },
    },
    operations: {
      publishNotification: {
        action: "send",
        title: "A producer's notification enters the stream",
        channel: { $ref: "#/channels/notifications" },
        messages: channelMessages("notifications", STREAM_TYPES),
      },
      dispatchNotifications: {
        action: "receive",
        title: "The dispatcher reads every partition in order",
        channel: { $ref: "#/channels/notifications" },
        messages: channelMessages("notifications", STREAM_TYPES),
      },
      pullMessages: {
        action: "receive",
        title: "A subscriber pulls its messages",
        channel: { $ref: "#/channels/subscriptionMessages" },
        messages: [{ $ref: "#/channels/subscriptionMessages/messages/delivered" }],
      },
      pushWebhook: {
        action: "send",
        title: "certflow pushes a subscription's messages to its webhook",
        channel: { $ref: "#/channels/webhook" },
        messages: channelMessages("webhook", delivered),
      },
    },
    components: {
      messages: {
        ...Object.fromEntries(
          delivered.map((type) => [
            type,
            { name: type, title: type, ...(DESCRIPTIONS[type] ? { summary: DESCRIPTIONS[type] } : {}), payload: envelopeOf(type) },
          ]),
        ),
        delivered: { name: "delivered", title: "A pulled message", payload: jsonSchema(MessageSchema) },
      },
    },
  };
}

const escape = (text: string) => text.replace(/[&<>"]/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[char]!);

/** A plain, self-contained rendering of the document (no scripts, nothing from elsewhere). */
export function asyncApiPage(document: ReturnType<typeof asyncApiDocument>): string {
  const channels = Object.entries(document.channels)
    .map(
      ([key, channel]) =>
        `<section><h2>${escape(channel.title)} <code>${escape(channel.address)}</code></h2><p>${escape(channel.description)}</p>` +
        `<p>Messages: ${Object.keys(channel.messages).map((name) => `<a href="#message-${escape(name)}"><code>${escape(name)}</code></a>`).join(", ")}</p>` +
        `<p>Operations: ${Object.entries(document.operations)
          .filter(([, operation]) => operation.channel.$ref === `#/channels/${key}`)
          .map(([name, operation]) => `<strong>${escape(operation.action)}</strong> ${escape(name)} (${escape(operation.title)})`)
          .join("; ")}</p></section>`,
    )
    .join("\n");
  const messages = Object.entries(document.components.messages)
    .map(
      ([name, message]) =>
        `<section id="message-${escape(name)}"><h3><code>${escape(name)}</code></h3>${"summary" in message && message.summary ? `<p>${escape(String(message.summary))}</p>` : ""}` +
        `<details><summary>payload schema</summary><pre>${escape(JSON.stringify(message.payload, null, 2))}</pre></details></section>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>certflow AsyncAPI ${escape(document.info.version)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}code,pre{background:#f4f4f4}pre{padding:.5rem;overflow:auto;font-size:.8rem}section{border-bottom:1px solid #ddd;padding:.5rem 0}</style>
</head><body><h1>${escape(document.info.title)} ${escape(document.info.version)} — AsyncAPI ${escape(document.asyncapi)}</h1>
<p>${escape(document.info.description)}</p><p><a href="/asyncapi.json">asyncapi.json</a></p>
<h2>Channels</h2>${channels}<h2>Messages</h2>${messages}</body></html>`;
}
