import { createHmac, timingSafeEqual } from "node:crypto";

export interface WebhookHeaders {
  "webhook-id"?: string | null | undefined;
  "webhook-timestamp"?: string | null | undefined;
  "webhook-signature"?: string | null | undefined;
}

export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
}

const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

/**
 * Verifies a push request per Standard Webhooks: `webhook-signature` holds `v1,<base64 HMAC-SHA256
 * of "{id}.{timestamp}.{body}">` entries, one per valid secret; one match is enough. The body must be
 * the raw request body, exactly as received. Returns the parsed body; throws
 * WebhookVerificationError otherwise.
 */
export function verifyWebhook<T = unknown>(
  secret: string,
  body: string | Uint8Array,
  headers: WebhookHeaders | Headers | Record<string, string | string[] | undefined>,
  options: { toleranceSeconds?: number; now?: Date } = {},
): T {
  const get = (name: keyof WebhookHeaders): string => {
    const value = headers instanceof Headers ? headers.get(name) : (headers as Record<string, unknown>)[name];
    const text = Array.isArray(value) ? value[0] : value;
    if (typeof text !== "string" || text.length === 0) throw new WebhookVerificationError(`missing header ${name}`);
    return text;
  };
  const id = get("webhook-id");
  const timestamp = get("webhook-timestamp");
  const signatures = get("webhook-signature");

  const seconds = Number(timestamp);
  const now = (options.now ?? new Date()).getTime() / 1000;
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isInteger(seconds)) throw new WebhookVerificationError("webhook-timestamp is not a number of seconds");
  if (Math.abs(now - seconds) > tolerance) throw new WebhookVerificationError("webhook-timestamp is too far from now (replayed?)");

  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  const expected = createHmac("sha256", secretKey(secret)).update(`${id}.${timestamp}.${text}`).digest();
  const matches = signatures.split(" ").some((entry) => {
    const [version, signature] = entry.split(",", 2);
    if (version !== "v1" || !signature) return false;
    const given = Buffer.from(signature, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) throw new WebhookVerificationError("no signature matches this secret");
  return JSON.parse(text) as T;
}

function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret, "base64");
}
