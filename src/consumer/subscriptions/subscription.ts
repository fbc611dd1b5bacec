import { createHash } from "node:crypto";
import { z } from "@hono/zod-openapi";
import type { PrefillStatus, SubscriptionStatus } from "../../core/db/schema.js";
import { FiltersSchema, type Filter } from "../../core/filters.js";
import type { LeaseTarget } from "../../mom/ledger/ledger.js";
import { secretKey } from "../messages/push/signature.js";

export const SubscriptionNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit" })
  .openapi({ example: "grid-operator-dk1" });

/** Checks run one after the other, so a later one only ever sees a URL that parses. */
const PushUrlSchema = z
  .string()
  .max(2048)
  .refine((url) => URL.canParse(url), { error: "expected an absolute http:// or https:// URL with a host", abort: true })
  .pipe(
    z
      .url({ protocol: /^https?$/, hostname: /./, error: "expected an http:// or https:// URL with a host" })
      .refine((url) => !new URL(url).username && !new URL(url).password, { error: "must not carry credentials; use the signing secret" }),
  );

const PushFormatSchema = z.enum(["envelope", "cloudevents"]).openapi({
  description: "`envelope` (default): the notification as JSON; `cloudevents`: a structured CloudEvent 1.0",
});

export const WebhookSecretSchema = z
  .string()
  .refine((secret) => secretKey(secret) !== undefined, { error: "expected whsec_ followed by 24 to 64 bytes in base64" })
  .openapi({ description: "Standard Webhooks secret (whsec_...); generated when absent, shown once" });

const PushDeliveryInputSchema = z.strictObject({
  mode: z.literal("push"),
  url: PushUrlSchema,
  secret: WebhookSecretSchema.optional(),
  format: PushFormatSchema.default("envelope"),
});

/** Delivery as a request gives it: a push secret may come along. */
export const DeliveryInputSchema = z
  .discriminatedUnion("mode", [z.strictObject({ mode: z.literal("pull") }), PushDeliveryInputSchema], {
    error: 'expected {"mode": "pull"} or {"mode": "push", "url": ...}',
  })
  .openapi("DeliveryInput");
export type DeliveryInput = z.infer<typeof DeliveryInputSchema>;

/** Delivery as stored and shown: never the secret. */
export const DeliverySchema = z
  .discriminatedUnion("mode", [
    z.object({ mode: z.literal("pull") }),
    z.object({ mode: z.literal("push"), url: z.string(), format: PushFormatSchema }),
  ])
  .openapi("Delivery");
export type Delivery = z.infer<typeof DeliverySchema>;
export type PushDelivery = Extract<Delivery, { mode: "push" }>;

export function withoutSecret(delivery: DeliveryInput): Delivery {
  return delivery.mode === "push" ? { mode: "push", url: delivery.url, format: delivery.format } : { mode: "pull" };
}

export interface SubscriptionDefaults {
  ackTimeoutSeconds: number;
  maxDeliveries: number;
}

const ackTimeoutSeconds = z.number().int().min(1).max(43_200).openapi({ description: "Seconds before an unacked message is redelivered" });
const maxDeliveries = z.number().int().min(1).max(1000).openapi({ description: "Deliveries before a message is dead-lettered" });

export const SloSchema = z
  .strictObject({
    maxLagSeconds: z.number().int().min(1).max(30 * 86_400).openapi({
      description: "The oldest waiting message should be no older than this; a breach publishes subscription.lagging, its end subscription.recovered",
    }),
  })
  .openapi("SubscriptionSlo");
export type Slo = z.infer<typeof SloSchema>;

export const CreateSubscriptionSchema = z
  .strictObject({
    name: SubscriptionNameSchema,
    description: z.string().max(500).optional(),
    filters: FiltersSchema,
    prefill: z.boolean().default(false).openapi({ description: "Send the current state of every matching certificate first" }),
    delivery: DeliveryInputSchema.default({ mode: "pull" }),
    ackTimeoutSeconds: ackTimeoutSeconds.optional(),
    maxDeliveries: maxDeliveries.optional(),
    slo: SloSchema.optional(),
  })
  .openapi("CreateSubscription");
export type CreateSubscription = z.infer<typeof CreateSubscriptionSchema>;

export const UpdateSubscriptionSchema = z
  .strictObject({
    description: z.string().max(500).nullable().optional(),
    filters: FiltersSchema.optional(),
    delivery: DeliveryInputSchema.optional().refine((delivery) => delivery?.mode !== "push" || delivery.secret === undefined, {
      error: "a secret is changed by POST /v1/subscriptions/{name}/secret, not by PATCH",
    }),
    status: z.enum(["active", "paused"]).optional().openapi({
      description: "Pause or resume delivery (messages keep queueing); `active` also re-enables a disabled push subscription",
    }),
    ackTimeoutSeconds: ackTimeoutSeconds.optional(),
    maxDeliveries: maxDeliveries.optional(),
    slo: SloSchema.nullable().optional().openapi({ description: "Declare, change or (null) drop the lag SLO" }),
  })
  .refine((patch) => Object.keys(patch).length > 0, { error: "name at least one field to change" })
  .openapi("UpdateSubscription");
export type UpdateSubscription = z.infer<typeof UpdateSubscriptionSchema>;

/** What the subscriber asked for, with defaults applied: two equal specs are the same subscription. */
export interface SubscriptionSpec {
  name: string;
  description: string | null;
  filters: Filter[];
  prefill: boolean;
  delivery: Delivery;
  ackTimeoutSeconds: number;
  maxDeliveries: number;
  /** Absent when none is declared (so older subscriptions keep their fingerprint). */
  slo?: Slo;
}

export interface Prefill {
  enabled: boolean;
  status: PrefillStatus;
  total: number;
  sent: number;
  /** Read-model position the snapshot was taken at. */
  position: number | null;
  error: string | null;
}

export interface Subscription extends SubscriptionSpec {
  id: string;
  /** Of the request that created it (or the last PATCH): the same request again is the same subscription. */
  fingerprint: string;
  status: SubscriptionStatus;
  statusReason: string | null;
  startSeq: number;
  /** Since when every push attempt has failed, if it is failing. */
  failingSince: Date | null;
  prefillState: Prefill;
  createdAt: Date;
  updatedAt: Date;
}

export function toSpec(request: CreateSubscription, defaults: SubscriptionDefaults): SubscriptionSpec {
  return {
    name: request.name,
    description: request.description ?? null,
    filters: request.filters,
    prefill: request.prefill,
    delivery: withoutSecret(request.delivery),
    ackTimeoutSeconds: request.ackTimeoutSeconds ?? defaults.ackTimeoutSeconds,
    maxDeliveries: request.maxDeliveries ?? defaults.maxDeliveries,
    ...(request.slo ? { slo: request.slo } : {}),
  };
}

export function specOf(subscription: Subscription): SubscriptionSpec {
  const { name, description, filters, prefill, delivery, ackTimeoutSeconds, maxDeliveries, slo } = subscription;
  return { name, description, filters, prefill, delivery, ackTimeoutSeconds, maxDeliveries, ...(slo ? { slo } : {}) };
}

/** A secret the client chose is part of its request; a secret we generate is not. */
export function fingerprint(spec: SubscriptionSpec, chosenSecret?: string): string {
  const secret = chosenSecret === undefined ? undefined : createHash("sha256").update(chosenSecret).digest("hex");
  return createHash("sha256").update(canonicalJson({ ...spec, secret })).digest("hex");
}

/** JSON with object keys sorted, so equal values hash equally whatever order the client wrote them in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Which of its messages a subscription may receive now. Live messages wait while a prefill runs;
 * after it, only those after the snapshot's position P are delivered (the seam).
 */
export function leaseTarget(subscription: Subscription): LeaseTarget {
  const { prefillState: prefill } = subscription;
  let liveFromSeq: number | null = subscription.startSeq;
  if (prefill.enabled) {
    liveFromSeq = prefill.status === "done" ? Math.max(subscription.startSeq, (prefill.position ?? 0) + 1) : null;
  }
  return {
    id: subscription.id,
    ackTimeoutSeconds: subscription.ackTimeoutSeconds,
    maxDeliveries: subscription.maxDeliveries,
    liveFromSeq,
  };
}
