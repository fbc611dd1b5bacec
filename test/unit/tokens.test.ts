import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { constantTimeEqual, generateToken, hashToken, tokenKind } from "../../src/core/auth/tokens.js";

describe("generateToken", () => {
  it("prefixes producer tokens with cfp_ and subscription tokens with cfs_", () => {
    expect(generateToken("producer")).toMatch(/^cfp_[A-Za-z0-9_-]{43}$/);
    expect(generateToken("subscription")).toMatch(/^cfs_[A-Za-z0-9_-]{43}$/);
  });

  it("makes a different token each time", () => {
    const tokens = new Set(Array.from({ length: 100 }, () => generateToken("producer")));
    expect(tokens.size).toBe(100);
  });

  it("makes tokens whose kind tokenKind recognises", () => {
    expect(tokenKind(generateToken("producer"))).toBe("producer");
    expect(tokenKind(generateToken("subscription"))).toBe("subscription");
  });
});

describe("tokenKind", () => {
  it.each(["", "admin-secret-token", "cfx_abc", "CFP_abc", "cf_abc", " cfp_abc"])("finds no kind in %j", (token) => {
    expect(tokenKind(token)).toBeUndefined();
  });
});

describe("hashToken", () => {
  it("is the hex SHA-256 of the token", () => {
    expect(hashToken("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hashToken("cfp_x")).toBe(createHash("sha256").update("cfp_x").digest("hex"));
  });

  it("differs for different tokens", () => {
    expect(hashToken("cfp_a")).not.toBe(hashToken("cfp_b"));
  });
});

describe("constantTimeEqual", () => {
  it("is true for equal strings", () => {
    expect(constantTimeEqual("secret-value", "secret-value")).toBe(true);
    expect(constantTimeEqual("", "")).toBe(true);
  });

  it("is false for different strings, including different lengths", () => {
    expect(constantTimeEqual("secret-value", "secret-valuf")).toBe(false);
    expect(constantTimeEqual("short", "a much longer string")).toBe(false);
    expect(constantTimeEqual("", "x")).toBe(false);
  });
});
