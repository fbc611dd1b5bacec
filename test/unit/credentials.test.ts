import { beforeEach, describe, expect, it } from "vitest";
import { CredentialResolver, type CredentialStore } from "../../src/core/auth/credentials.js";
import { hashToken } from "../../src/core/auth/tokens.js";

const ADMIN_TOKEN = "admin-token-0123456789";
const PRODUCER_TOKEN = "cfp_producer-token-aaaaaaaaaaaaaaaaaaaaaa";
const SUBSCRIPTION_TOKEN = "cfs_subscription-token-bbbbbbbbbbbbbbbbbb";
const CACHE_MS = 5_000;

type Row = { id: string; name: string; token_hash: string };

/** An in-memory CredentialStore that counts its look-ups. */
class FakeCredentialStore implements CredentialStore {
  readonly producers = new Map<string, Row>();
  readonly subscriptions = new Map<string, Row>();
  producerLookups = 0;
  subscriptionLookups = 0;

  addProducer(token: string, id: string, name: string) {
    this.producers.set(hashToken(token), { id, name, token_hash: hashToken(token) });
  }

  addSubscription(token: string, id: string, name: string) {
    this.subscriptions.set(hashToken(token), { id, name, token_hash: hashToken(token) });
  }

  async findProducer(tokenHash: string) {
    this.producerLookups++;
    return this.producers.get(tokenHash);
  }

  async findSubscription(tokenHash: string) {
    this.subscriptionLookups++;
    return this.subscriptions.get(tokenHash);
  }

  get lookups() {
    return this.producerLookups + this.subscriptionLookups;
  }
}

describe("CredentialResolver", () => {
  let store: FakeCredentialStore;
  let clock: number;
  let resolver: CredentialResolver;

  beforeEach(() => {
    store = new FakeCredentialStore();
    store.addProducer(PRODUCER_TOKEN, "producer-1", "registry");
    store.addSubscription(SUBSCRIPTION_TOKEN, "subscription-1", "grid-operator");
    clock = 1_000_000;
    resolver = new CredentialResolver(store, ADMIN_TOKEN, CACHE_MS, () => clock);
  });

  describe("admin token", () => {
    it("resolves the admin token to the admin principal without asking the store", async () => {
      expect(await resolver.resolve(ADMIN_TOKEN)).toEqual({ kind: "admin" });
      expect(store.lookups).toBe(0);
    });

    it("rejects an unprefixed token that is not the admin token", async () => {
      expect(await resolver.resolve("admin-token-0123456780")).toBeUndefined();
      expect(await resolver.resolve("")).toBeUndefined();
      expect(store.lookups).toBe(0);
    });
  });

  describe("producer and subscription tokens", () => {
    it("resolves a known producer token to its producer principal", async () => {
      expect(await resolver.resolve(PRODUCER_TOKEN)).toEqual({ kind: "producer", id: "producer-1", name: "registry" });
      expect(store.producerLookups).toBe(1);
      expect(store.subscriptionLookups).toBe(0);
    });

    it("resolves a known subscription token to its subscription principal", async () => {
      expect(await resolver.resolve(SUBSCRIPTION_TOKEN)).toEqual({
        kind: "subscription",
        id: "subscription-1",
        name: "grid-operator",
      });
      expect(store.subscriptionLookups).toBe(1);
      expect(store.producerLookups).toBe(0);
    });

    it("rejects an unknown producer token", async () => {
      expect(await resolver.resolve("cfp_unknown")).toBeUndefined();
    });

    it("rejects an unknown subscription token", async () => {
      expect(await resolver.resolve("cfs_unknown")).toBeUndefined();
    });

    it("does not accept a subscription token presented with the producer prefix", async () => {
      expect(await resolver.resolve(`cfp_${SUBSCRIPTION_TOKEN.slice(4)}`)).toBeUndefined();
    });

    it("rejects a row whose stored hash does not equal the token's hash", async () => {
      store.producers.set(hashToken("cfp_mismatch"), { id: "p", name: "n", token_hash: "0".repeat(64) });
      expect(await resolver.resolve("cfp_mismatch")).toBeUndefined();
    });

    it("does not treat the admin token with a producer prefix as admin", async () => {
      expect(await resolver.resolve(`cfp_${ADMIN_TOKEN}`)).toBeUndefined();
    });
  });

  describe("cache", () => {
    it("serves a second resolve within the TTL from the cache", async () => {
      await resolver.resolve(PRODUCER_TOKEN);
      clock += CACHE_MS - 1;
      expect(await resolver.resolve(PRODUCER_TOKEN)).toEqual({ kind: "producer", id: "producer-1", name: "registry" });
      expect(store.producerLookups).toBe(1);
    });

    it("keeps serving a cached principal within the TTL even after the store forgets it", async () => {
      await resolver.resolve(SUBSCRIPTION_TOKEN);
      store.subscriptions.clear();
      expect(await resolver.resolve(SUBSCRIPTION_TOKEN)).toMatchObject({ id: "subscription-1" });
      expect(store.subscriptionLookups).toBe(1);
    });

    it("asks the store again once the TTL has passed", async () => {
      await resolver.resolve(PRODUCER_TOKEN);
      clock += CACHE_MS;
      expect(await resolver.resolve(PRODUCER_TOKEN)).toMatchObject({ id: "producer-1" });
      expect(store.producerLookups).toBe(2);
    });

    it("rejects a token after the TTL once the store no longer knows it", async () => {
      await resolver.resolve(PRODUCER_TOKEN);
      store.producers.clear();
      clock += CACHE_MS + 1;
      expect(await resolver.resolve(PRODUCER_TOKEN)).toBeUndefined();
      expect(store.producerLookups).toBe(2);
    });

    it("does not cache unknown tokens", async () => {
      await resolver.resolve("cfp_unknown");
      await resolver.resolve("cfp_unknown");
      expect(store.producerLookups).toBe(2);
    });

    it("caches nothing when the TTL is zero", async () => {
      const uncached = new CredentialResolver(store, ADMIN_TOKEN, 0, () => clock);
      await uncached.resolve(PRODUCER_TOKEN);
      await uncached.resolve(PRODUCER_TOKEN);
      expect(store.producerLookups).toBe(2);
    });
  });

  describe("forget", () => {
    it("evicts the cached tokens of the named principal", async () => {
      await resolver.resolve(SUBSCRIPTION_TOKEN);
      resolver.forget("subscription-1");
      store.subscriptions.clear();
      expect(await resolver.resolve(SUBSCRIPTION_TOKEN)).toBeUndefined();
      expect(store.subscriptionLookups).toBe(2);
    });

    it("leaves other principals cached", async () => {
      await resolver.resolve(PRODUCER_TOKEN);
      await resolver.resolve(SUBSCRIPTION_TOKEN);
      resolver.forget("subscription-1");
      await resolver.resolve(PRODUCER_TOKEN);
      await resolver.resolve(SUBSCRIPTION_TOKEN);
      expect(store.producerLookups).toBe(1);
      expect(store.subscriptionLookups).toBe(2);
    });

    it("evicts every cached token of a principal that has several", async () => {
      const rotated = "cfp_rotated-token-cccccccccccccccccccccc";
      store.addProducer(rotated, "producer-1", "registry");
      await resolver.resolve(PRODUCER_TOKEN);
      await resolver.resolve(rotated);
      resolver.forget("producer-1");
      await resolver.resolve(PRODUCER_TOKEN);
      await resolver.resolve(rotated);
      expect(store.producerLookups).toBe(4);
    });

    it("is harmless for an unknown principal id", async () => {
      await resolver.resolve(PRODUCER_TOKEN);
      resolver.forget("nobody");
      await resolver.resolve(PRODUCER_TOKEN);
      expect(store.producerLookups).toBe(1);
    });
  });
});
