import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export type TokenKind = "producer" | "subscription";

const PREFIX: Record<TokenKind, string> = { producer: "cfp_", subscription: "cfs_" };

/** 256 random bits; the prefix tells a leaked token's kind at a glance (and to secret scanners). */
export function generateToken(kind: TokenKind): string {
  return PREFIX[kind] + randomBytes(32).toString("base64url");
}

export function tokenKind(token: string): TokenKind | undefined {
  if (token.startsWith(PREFIX.producer)) return "producer";
  if (token.startsWith(PREFIX.subscription)) return "subscription";
  return undefined;
}

/** Tokens are high-entropy, so one SHA-256 is the right hash: it is what we store and look up. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash("sha256").update(a).digest();
  const right = createHash("sha256").update(b).digest();
  return timingSafeEqual(left, right);
}
