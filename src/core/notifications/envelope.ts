import { z } from "@hono/zod-openapi";
import { CertificateStateShape, identifier, utcTimestamp, type CertificateStatus } from "./certificate.js";

export const CERTIFICATE_TYPES = [
  "certificate.issued",
  "certificate.cancelled",
  "certificate.converted",
  "certificate.sliced",
  "certificate.transferred",
  "certificate.claimed",
  "certificate.withdrawn",
  "certificate.expired",
  "certificate.snapshot",
] as const;
export type CertificateNotificationType = (typeof CERTIFICATE_TYPES)[number];

/** What certflow's registry connector records about each command it carries to the external registry (DESIGN.md §8). */
export const REGISTRY_TYPES = [
  "registry.command.accepted",
  "registry.command.sent",
  "registry.transaction.committed",
  "registry.transaction.failed",
  "registry.command.indeterminate",
  "registry.command.resolved",
  "registry.misalignment.detected",
] as const;
export type RegistryNotificationType = (typeof REGISTRY_TYPES)[number];

export const NOTIFICATION_TYPES = [...CERTIFICATE_TYPES, ...REGISTRY_TYPES] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export const isRegistryType = (type: string): type is RegistryNotificationType => type.startsWith("registry.");

/** Types a producer may post: snapshots are made by prefill, registry events by the certificates domain. */
export const PRODUCED_TYPES = CERTIFICATE_TYPES.filter((type) => type !== "certificate.snapshot");

export const CHANNELS = ["http", "prefill", "internal"] as const;
export type Channel = (typeof CHANNELS)[number];

export const uuid = z.uuid({ error: "expected a UUID" });

/** Type-specific fields beside the certificate's full state (event-carried state transfer). */
const DATA_EXTRAS = {
  "certificate.issued": {},
  "certificate.cancelled": { reason: z.string().max(500).optional() },
  "certificate.converted": {
    conversionId: z.string().min(1).max(128).optional(),
    hourlyCertificateCount: z.number().int().min(1),
  },
  "certificate.sliced": {
    slices: z
      .array(z.strictObject({ certificateId: identifier("certificateId"), quantityWh: CertificateStateShape.quantityWh }))
      .min(1),
  },
  "certificate.transferred": { previousOwner: identifier("previousOwner"), tradeId: z.string().min(1).max(128).optional() },
  "certificate.claimed": { beneficiary: z.string().min(1).max(200).optional() },
  "certificate.withdrawn": { reason: z.string().max(500).optional() },
  "certificate.expired": {},
  "certificate.snapshot": {},
} satisfies Record<CertificateNotificationType, z.ZodRawShape>;

/** The status a certificate must have after each kind of change. */
const STATUS_AFTER: Record<CertificateNotificationType, readonly CertificateStatus[] | undefined> = {
  "certificate.issued": ["active"],
  "certificate.cancelled": ["cancelled"],
  "certificate.converted": ["cancelled"],
  "certificate.sliced": ["active", "cancelled"],
  "certificate.transferred": ["active", "transferred"],
  "certificate.claimed": ["claimed"],
  "certificate.withdrawn": ["withdrawn"],
  "certificate.expired": ["expired"],
  "certificate.snapshot": undefined,
};

function dataSchemaFor(type: CertificateNotificationType) {
  return z.strictObject({ ...CertificateStateShape, ...DATA_EXTRAS[type] }).superRefine((data, ctx) => {
    if (Date.parse(data.periodEnd) <= Date.parse(data.periodStart)) {
      ctx.addIssue({ code: "custom", path: ["periodEnd"], message: "must be after periodStart" });
    }
    const allowed = STATUS_AFTER[type];
    if (allowed && !allowed.includes(data.status)) {
      ctx.addIssue({ code: "custom", path: ["status"], message: `must be ${allowed.join(" or ")} for ${type}` });
    }
    if (type === "certificate.issued" && data.kind === "hourly" && !data.parentCertificateId) {
      ctx.addIssue({ code: "custom", path: ["parentCertificateId"], message: "is required for an hourly certificate" });
    }
  });
}

export const DATA_SCHEMAS = Object.fromEntries(CERTIFICATE_TYPES.map((type) => [type, dataSchemaFor(type)])) as Record<
  CertificateNotificationType,
  ReturnType<typeof dataSchemaFor>
>;

/** The data of a registry event: which command, which certificate, and what happened to it. */
export const RegistryEventDataSchema = z.looseObject({
  certificateId: z.string().min(1),
  commandId: z.string().min(1).optional(),
  txId: z.string().optional(),
  commandType: z.string().optional(),
});

export type NotificationData = z.infer<(typeof DATA_SCHEMAS)[CertificateNotificationType]> | z.infer<typeof RegistryEventDataSchema>;

export const SourceSchema = z.strictObject({ name: z.string().min(1).max(128), version: z.string().min(1).max(64) });

/** A stored or delivered notification. */
export const NotificationSchema = z
  .strictObject({
    id: uuid,
    type: z.enum(NOTIFICATION_TYPES),
    source: SourceSchema,
    time: z.iso.datetime({ offset: true }),
    subject: z.string().min(1),
    parentId: uuid.nullable(),
    correlationId: uuid,
    channel: z.enum(CHANNELS),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi("Notification");
/** A notification as stored and served (its data as the journal holds it). */
export type StoredNotification = z.infer<typeof NotificationSchema>;
export type Notification = {
  id: string;
  type: NotificationType;
  source: { name: string; version: string };
  time: string;
  subject: string;
  parentId: string | null;
  correlationId: string;
  channel: Channel;
  data: NotificationData;
};

/** What a producer posts; the server fills in the rest. */
export const NotificationInputSchema = z
  .strictObject({
    id: uuid.optional().openapi({ description: "Idempotency key; a UUIDv7 is made when absent" }),
    type: z.enum(PRODUCED_TYPES, { error: `expected one of ${PRODUCED_TYPES.join(", ")}` }),
    subject: identifier("subject").openapi({ description: "The certificate id; the ordering key" }),
    time: utcTimestamp.optional().openapi({ description: "When it happened (RFC 3339); defaults to now" }),
    parentId: uuid.nullable().optional(),
    correlationId: uuid.optional(),
    source: z
      .strictObject({
        name: z.string().optional().openapi({ description: "Ignored unless equal to the credential's name" }),
        version: z.string().min(1).max(64).optional(),
      })
      .optional(),
    data: z.record(z.string(), z.unknown()).openapi({ description: "The certificate's full state after the change" }),
  })
  .transform((input, ctx) => {
    const parsed = DATA_SCHEMAS[input.type].safeParse(input.data);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        ctx.addIssue({ code: "custom", path: ["data", ...issue.path], message: issue.message });
      }
      return z.NEVER;
    }
    if (parsed.data.certificateId !== input.subject) {
      ctx.addIssue({ code: "custom", path: ["subject"], message: "must equal data.certificateId" });
      return z.NEVER;
    }
    return { ...input, data: parsed.data };
  })
  .openapi("NotificationInput");

export type NotificationInput = z.infer<typeof NotificationInputSchema>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const KNOWN_TYPES: ReadonlySet<string> = new Set(NOTIFICATION_TYPES);
const KNOWN_CHANNELS: ReadonlySet<string> = new Set(CHANNELS);

const isText = (value: unknown): value is string => typeof value === "string" && value.length > 0;
const isUuid = (value: unknown): value is string => isText(value) && UUID.test(value);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A cheap structural check of an envelope read back from the stream, where the producer already
 * validated it in full: enough that storing it cannot fail, at a fraction of a schema's cost.
 */
export function asStoredNotification(value: unknown): StoredNotification | undefined {
  if (!isObject(value) || !isObject(value.source) || !isObject(value.data)) return undefined;
  const checks = [
    isUuid(value.id),
    isText(value.type) && KNOWN_TYPES.has(value.type),
    isText(value.source.name) && isText(value.source.version),
    isText(value.time) && RFC3339.test(value.time),
    isText(value.subject),
    value.parentId === null || isUuid(value.parentId),
    isUuid(value.correlationId),
    isText(value.channel) && KNOWN_CHANNELS.has(value.channel),
  ];
  return checks.every(Boolean) ? (value as StoredNotification) : undefined;
}
