import { z } from "@hono/zod-openapi";

export const CERTIFICATE_STATUSES = ["active", "cancelled", "transferred", "claimed", "withdrawn", "expired"] as const;
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];
export const CERTIFICATE_KINDS = ["annual", "hourly"] as const;
export type CertificateKind = (typeof CERTIFICATE_KINDS)[number];

/** Identifiers of certificates, devices, owners: printable, no whitespace, bounded. */
export const identifier = (what: string) =>
  z
    .string()
    .min(1, { error: `${what} must not be empty` })
    .max(128, { error: `${what} must be at most 128 characters` })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/, {
      error: `${what} may contain letters, digits and . _ : @ / - only, starting with a letter or digit`,
    });

export const utcTimestamp = z.iso
  .datetime({ offset: true, error: "expected an RFC 3339 timestamp, e.g. 2026-01-01T00:00:00Z" })
  .transform((value) => new Date(value).toISOString());

/** Energy is counted in whole watt-hours so that it is conserved exactly. */
export const wattHours = z
  .number({ error: "expected a number of watt-hours" })
  .int({ error: "must be a whole number of watt-hours" })
  .min(0, { error: "must not be negative" })
  .max(Number.MAX_SAFE_INTEGER, { error: "is too large" });

export const CertificateStateShape = {
  certificateId: identifier("certificateId"),
  kind: z.enum(CERTIFICATE_KINDS),
  deviceId: identifier("deviceId"),
  gridArea: identifier("gridArea"),
  energySource: identifier("energySource"),
  periodStart: utcTimestamp,
  periodEnd: utcTimestamp,
  quantityWh: wattHours,
  owner: identifier("owner"),
  status: z.enum(CERTIFICATE_STATUSES),
  parentCertificateId: identifier("parentCertificateId").optional(),
  version: z.number().int().min(1, { error: "must be at least 1" }),
};

export const CertificateStateSchema = z.strictObject(CertificateStateShape).openapi("CertificateState");
export type CertificateState = z.infer<typeof CertificateStateSchema>;
