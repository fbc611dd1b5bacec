import { z } from "@hono/zod-openapi";
import { CertificateStateSchema, CertificateStateShape, identifier, utcTimestamp, type CertificateState, type CertificateStatus } from "./certificate.js";
import { INVALID, fastParser, validTimestampNotAfter, type FastParser } from "./fast-parse.js";
import {
  OPERATIONAL_DATA_SCHEMAS,
  OPERATIONAL_TYPES,
  PREFILL_COMPLETED,
  PrefillCompletedDataSchema,
  type OperationalData,
  type OperationalType,
} from "./operational.js";

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
export type CertificateType = (typeof CERTIFICATE_TYPES)[number];
/** The same, under the name the certificates domain uses. */
export type CertificateNotificationType = CertificateType;

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

export const NOTIFICATION_TYPES = [...CERTIFICATE_TYPES, ...REGISTRY_TYPES, PREFILL_COMPLETED, ...OPERATIONAL_TYPES] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export const isRegistryType = (type: string): type is RegistryNotificationType => type.startsWith("registry.");

/** Types a producer may post; snapshots are made by prefill only, registry events by the certificates domain, operational ones by certflow itself. */
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
} satisfies Record<CertificateType, z.ZodRawShape>;

/** The status a certificate must have after each kind of change. */
const STATUS_AFTER: Record<CertificateType, readonly CertificateStatus[] | undefined> = {
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

/** What a certificate's data must satisfy beyond its fields' own types: the rules of each kind of change. */
function stateRuleIssues(
  type: CertificateType,
  data: CertificateData,
  notAfter = (a: string, b: string) => Date.parse(a) <= Date.parse(b),
): Array<{ path: string[]; message: string }> {
  const issues: Array<{ path: string[]; message: string }> = [];
  if (notAfter(data.periodEnd, data.periodStart)) {
    issues.push({ path: ["periodEnd"], message: "must be after periodStart" });
  }
  const allowed = STATUS_AFTER[type];
  if (allowed && !allowed.includes(data.status)) {
    issues.push({ path: ["status"], message: `must be ${allowed.join(" or ")} for ${type}` });
  }
  if (type === "certificate.issued" && data.kind === "hourly" && !data.parentCertificateId) {
    issues.push({ path: ["parentCertificateId"], message: "is required for an hourly certificate" });
  }
  return issues;
}

const dataShapeFor = (type: CertificateType) => z.strictObject({ ...CertificateStateShape, ...DATA_EXTRAS[type] });
type CertificateData = z.infer<ReturnType<typeof dataShapeFor>>;

function dataSchemaFor(type: CertificateType) {
  return dataShapeFor(type).superRefine((data, ctx) => {
    for (const issue of stateRuleIssues(type, data)) ctx.addIssue({ code: "custom", ...issue });
  });
}

export const CERTIFICATE_DATA_SCHEMAS = Object.fromEntries(CERTIFICATE_TYPES.map((type) => [type, dataSchemaFor(type)])) as Record<
  CertificateType,
  ReturnType<typeof dataSchemaFor>
>;

/** The data of a registry event: which command, which certificate, and what happened to it. */
export const RegistryEventDataSchema = z.looseObject({
  certificateId: z.string().min(1),
  commandId: z.string().min(1).optional(),
  txId: z.string().optional(),
  commandType: z.string().optional(),
});

/** The `data` schema of every notification type. */
export const DATA_SCHEMAS: Record<NotificationType, z.ZodType> = {
  ...CERTIFICATE_DATA_SCHEMAS,
  ...(Object.fromEntries(REGISTRY_TYPES.map((type) => [type, RegistryEventDataSchema])) as Record<RegistryNotificationType, typeof RegistryEventDataSchema>),
  [PREFILL_COMPLETED]: PrefillCompletedDataSchema,
  ...OPERATIONAL_DATA_SCHEMAS,
};

export type NotificationData =
  | z.infer<(typeof CERTIFICATE_DATA_SCHEMAS)[CertificateType]>
  | z.infer<typeof RegistryEventDataSchema>
  | z.infer<typeof PrefillCompletedDataSchema>
  | OperationalData<OperationalType>;

export const SourceSchema = z.strictObject({ name: z.string().min(1).max(128), version: z.string().min(1).max(64) });

/** `certificate.issued` -> `CertificateIssued`: the stem of each type's component names in the API document. */
export const componentStem = (type: NotificationType) =>
  type
    .split(".")
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("");

const isCertificateType = (type: NotificationType): type is CertificateType => (CERTIFICATE_TYPES as readonly string[]).includes(type);

export const dataComponent = (type: NotificationType) =>
  DATA_SCHEMAS[type].openapi(`${componentStem(type)}Data`, {
    description: isCertificateType(type)
      ? `The certificate's full state after a ${type}${Object.keys(DATA_EXTRAS[type]).length > 0 ? ", with the fields of this change" : ""}`
      : `What certflow reports with a ${type}`,
  });

const storedEnvelopeShape = {
  id: uuid,
  source: SourceSchema,
  time: z.iso.datetime({ offset: true }),
  subject: z.string().min(1).openapi({ description: "The certificate id; the ordering key" }),
  parentId: uuid.nullable().openapi({ description: "The notification that caused this one" }),
  correlationId: uuid.openapi({ description: "The root of this notification's causal chain" }),
  channel: z.enum(CHANNELS),
  traceparent: z.string().optional().openapi({ description: "W3C traceparent of this notification's span (its trace continues the producer's, or starts here)" }),
  tracestate: z.string().optional().openapi({ description: "W3C tracestate, as the producer sent it" }),
};

const notificationOf = <T extends NotificationType>(type: T) =>
  z
    .strictObject({ ...storedEnvelopeShape, type: z.literal(type), data: dataComponent(type) })
    .openapi(`${componentStem(type)}Notification`);

/** A stored or delivered notification; its `data` schema follows its `type`. */
export const NotificationSchema = z
  .discriminatedUnion(
    "type",
    NOTIFICATION_TYPES.map(notificationOf) as unknown as [ReturnType<typeof notificationOf<NotificationType>>],
  )
  .openapi("Notification");
/** A notification as stored and served (its data as the journal holds it). */
export type StoredNotification = Omit<z.infer<typeof NotificationSchema>, "data"> & { data: Record<string, unknown> };
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
  traceparent?: string;
  tracestate?: string;
};

const inputEnvelopeShape = {
  id: uuid.optional().openapi({ description: "Idempotency key; a UUIDv7 is made when absent" }),
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
};

/**
 * How the API document describes each type of input: the envelope with that type's `data`. The
 * input is validated by `NotificationInputSchema` (which names the field at fault in one pass);
 * these only document it.
 */
export const NOTIFICATION_INPUT_VARIANTS = PRODUCED_TYPES.map(
  (type) => [`${componentStem(type)}Input`, z.strictObject({ ...inputEnvelopeShape, type: z.literal(type), data: dataComponent(type) })] as const,
);

/** What a producer posts; the server fills in the rest. */
const InputEnvelopeSchema = z.strictObject({
  ...inputEnvelopeShape,
  type: z.enum(PRODUCED_TYPES, { error: `expected one of ${PRODUCED_TYPES.join(", ")}` }),
  data: z.record(z.string(), z.unknown()).openapi({ description: "The certificate's full state after the change" }),
});

export const NotificationInputSchema = InputEnvelopeSchema
  .transform((input, ctx) => {
    const parsed = CERTIFICATE_DATA_SCHEMAS[input.type].safeParse(input.data);
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
  .openapi("NotificationInput", {
    // Documented as one schema per type (registered from NOTIFICATION_INPUT_VARIANTS).
    oneOf: PRODUCED_TYPES.map((type) => ({ $ref: `#/components/schemas/${componentStem(type)}Input` })),
    discriminator: {
      propertyName: "type",
      mapping: Object.fromEntries(PRODUCED_TYPES.map((type) => [type, `#/components/schemas/${componentStem(type)}Input`])),
    },
  });

export type NotificationInput = z.infer<typeof NotificationInputSchema>;

const fastInputEnvelope = fastParser(InputEnvelopeSchema);
const fastData = Object.fromEntries(
  PRODUCED_TYPES.map((type) => {
    const fields = fastParser(dataShapeFor(type));
    const parse: FastParser<CertificateData> = (input) => {
      const data = fields(input);
      return data !== INVALID && stateRuleIssues(type, data, validTimestampNotAfter).length === 0 ? data : INVALID;
    };
    return [type, parse];
  }),
) as Record<(typeof PRODUCED_TYPES)[number], FastParser<CertificateData>>;

/**
 * `NotificationInputSchema.safeParse`, with a fast path for plainly valid input (the same value
 * the schema produces); anything else, and every error, comes from the schema itself.
 */
export function parseNotificationInput(input: unknown): z.ZodSafeParseResult<NotificationInput> {
  const envelope = fastInputEnvelope(input);
  if (envelope !== INVALID) {
    const data = fastData[envelope.type](envelope.data);
    if (data !== INVALID && data.certificateId === envelope.subject) return { success: true, data: { ...envelope, data } as NotificationInput };
  }
  return NotificationInputSchema.safeParse(input);
}

const fastCertificateState = fastParser(CertificateStateSchema);

/** `CertificateStateSchema.safeParse`, with the same kind of fast path. */
export function parseCertificateState(input: unknown): z.ZodSafeParseResult<CertificateState> {
  const state = fastCertificateState(input);
  return state !== INVALID ? { success: true, data: state } : CertificateStateSchema.safeParse(input);
}

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
