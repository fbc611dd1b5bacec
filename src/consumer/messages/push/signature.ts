import { createHmac, randomBytes } from "node:crypto";

const PREFIX = "whsec_";

/** A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function generateSecret(): string {
  return PREFIX + randomBytes(32).toString("base64");
}

/** The key bytes of a `whsec_` secret, or undefined when it is not one (24 to 64 bytes, base64). */
export function secretKey(secret: string): Buffer | undefined {
  if (!secret.startsWith(PREFIX)) return undefined;
  const encoded = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const key = Buffer.from(encoded, "base64");
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}

/**
 * The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` for
 * each secret, space-separated (the old and the new during a rotation).
 */
export function signatureHeader(secrets: readonly string[], webhookId: string, timestamp: number, body: string): string {
  const content = `${webhookId}.${timestamp}.${body}`;
  return secrets
    .map((secret) => {
      const key = secretKey(secret);
      if (!key) throw new Error("not a whsec_ secret");
      return `v1,${createHmac("sha256", key).update(content).digest("base64")}`;
    })
    .join(" ");
}
