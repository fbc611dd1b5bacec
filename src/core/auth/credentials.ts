import type { Executor } from "../db/schema.js";
import type { Principal } from "./principal.js";
import { constantTimeEqual, hashToken, tokenKind } from "./tokens.js";

interface StoredCredential {
  id: string;
  name: string;
  token_hash: string;
}

/** Where producer and subscription credentials live. */
export interface CredentialStore {
  findProducer(tokenHash: string): Promise<StoredCredential | undefined>;
  findSubscription(tokenHash: string): Promise<StoredCredential | undefined>;
}

export class PostgresCredentialStore implements CredentialStore {
  constructor(private readonly db: Executor) {}

  findProducer(tokenHash: string) {
    return this.db.selectFrom("producers").select(["id", "name", "token_hash"]).where("token_hash", "=", tokenHash).executeTakeFirst();
  }

  findSubscription(tokenHash: string) {
    return this.db
      .selectFrom("subscriptions")
      .select(["id", "name", "token_hash"])
      .where("token_hash", "=", tokenHash)
      .executeTakeFirst();
  }
}

interface CacheEntry {
  principal: Principal;
  expiresAt: number;
}

/**
 * Turns a bearer token into a principal. Known tokens are cached for a few seconds so a hot
 * endpoint does not pay a database round trip per request; deleting a subscription evicts its
 * token here at once and from other processes' caches within the TTL (handlers also check the
 * subscription id, so a re-created subscription is never reached by an old token).
 */
export class CredentialResolver {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly store: CredentialStore,
    private readonly adminToken: string,
    private readonly cacheMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async resolve(token: string): Promise<Principal | undefined> {
    const kind = tokenKind(token);
    if (!kind) return constantTimeEqual(token, this.adminToken) ? { kind: "admin" } : undefined;
    const tokenHash = hashToken(token);
    const cached = this.cache.get(tokenHash);
    if (cached && cached.expiresAt > this.now()) return cached.principal;
    const stored = kind === "producer" ? await this.store.findProducer(tokenHash) : await this.store.findSubscription(tokenHash);
    if (!stored || !constantTimeEqual(stored.token_hash, tokenHash)) {
      this.cache.delete(tokenHash);
      return undefined;
    }
    const principal: Principal = { kind, id: stored.id, name: stored.name };
    this.remember(tokenHash, principal);
    return principal;
  }

  /** Drops every cached token of a principal, e.g. when its subscription is deleted or its token rotated. */
  forget(principalId: string): void {
    for (const [hash, entry] of this.cache) {
      if (entry.principal.kind !== "admin" && entry.principal.id === principalId) this.cache.delete(hash);
    }
  }

  private remember(tokenHash: string, principal: Principal): void {
    if (this.cacheMs <= 0) return;
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(tokenHash, { principal, expiresAt: this.now() + this.cacheMs });
  }
}
