import { createHash } from "node:crypto";

/** Namespace of the registry's name-based ids (RFC 9562 UUIDv5). */
const REGISTRY_NAMESPACE = Buffer.from("6f3f4c1e9a2b5d7e8c0f1a2b3c4d5e6f", "hex");

/** RFC 9562 UUIDv5: SHA-1 of namespace and name; the same name always gives the same id. */
export function uuidv5(name: string, namespace: Buffer = REGISTRY_NAMESPACE): string {
  const bytes = createHash("sha1").update(namespace).update(name).digest();
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex", 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The id of the notification that brought a certificate to a version. Every change bumps the
 * version, so (certificate, version) names exactly one change: publishing it again after a crash
 * reuses the id, and the broker (Nats-Msg-Id) and the journal drop the copy.
 */
export const changeNotificationId = (certificateId: string, version: number) => uuidv5(`${certificateId}#${version}`);

/** Hourly certificates are named after their annual certificate and hour of the year: `<annual>-h0000` … `<annual>-h8783`. */
export const hourlyCertificateId = (annualCertificateId: string, hour: number) =>
  `${annualCertificateId}-h${String(hour).padStart(4, "0")}`;

/** Ids of this shape are reserved for hourly certificates. */
export const HOURLY_ID_SUFFIX = /-h\d{4}$/;

/** Room left in an identifier (128 characters) for the hourly suffix. */
export const MAX_ANNUAL_ID_LENGTH = 128 - "-h0000".length;
