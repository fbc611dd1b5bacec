import { z } from "@hono/zod-openapi";

/**
 * Notifications certflow publishes about itself: source `certflow`, channel `internal`, subject
 * the subscription's name. An operator subscribes to them like to any other type (`subscription.*`).
 */
export const OPERATIONAL_TYPES = ["subscription.disabled", "subscription.resumed", "subscription.lagging", "subscription.recovered"] as const;
export type OperationalType = (typeof OPERATIONAL_TYPES)[number];

const about = {
  subscription: z.string().min(1).openapi({ description: "The subscription's name (also the notification's subject)" }),
  subscriptionId: z.uuid(),
};

const lag = {
  ...about,
  maxLagSeconds: z.number().int().openapi({ description: "The subscription's declared SLO" }),
  oldestPendingAgeSeconds: z.number().openapi({ description: "Age of its oldest waiting message when this was decided" }),
  pending: z.number().int(),
};

export const OPERATIONAL_DATA_SCHEMAS = {
  "subscription.disabled": z.strictObject({ ...about, reason: z.string() }).openapi("SubscriptionDisabledData"),
  "subscription.resumed": z.strictObject({ ...about, previousStatus: z.enum(["paused", "disabled"]) }).openapi("SubscriptionResumedData"),
  "subscription.lagging": z.strictObject(lag).openapi("SubscriptionLaggingData"),
  "subscription.recovered": z.strictObject(lag).openapi("SubscriptionRecoveredData"),
} satisfies Record<OperationalType, z.ZodType>;

export type OperationalData<T extends OperationalType> = z.infer<(typeof OPERATIONAL_DATA_SCHEMAS)[T]>;

/**
 * The prefill boundary: one per prefill, delivered after every snapshot is finished and before
 * any live message, also when nothing matched. Made by the ledger, never on the stream.
 */
export const PREFILL_COMPLETED = "prefill.completed";
export const PrefillCompletedDataSchema = z
  .strictObject({
    subscriptionId: z.uuid(),
    count: z.number().int().openapi({ description: "Snapshots sent before this marker" }),
    position: z.number().int().openapi({ description: "The stream position P the snapshot reflects; live messages follow from P + 1" }),
  })
  .openapi("PrefillCompletedData");

export const isCertificateType = (type: string): boolean => type.startsWith("certificate.");
