import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { AddressGuard, BlockedAddressError, isBlockedAddress } from "../../src/consumer/messages/push/address-guard.js";
import { pushBody } from "../../src/consumer/messages/push/formats.js";
import { RetryPolicy, parseRetryAfter } from "../../src/consumer/messages/push/retry-policy.js";
import { generateSecret, secretKey, signatureHeader } from "../../src/consumer/messages/push/signature.js";

describe("isBlockedAddress", () => {
  it.each([
    "127.0.0.1",
    "127.255.0.3",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "64:ff9b::a9fe:a9fe",
    "not an address",
    // IPv4-compatible and mapped forms of loopback and private addresses
    "::127.0.0.1",
    "::7f00:1",
    "::ffff:10.0.0.1",
    "::ffff:0:7f00:1",
    "::ffff:0:127.0.0.1",
    "0:0:0:0:0:ffff:7f00:1",
    // 6to4 carrying loopback, private or link-local IPv4
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2002:a9fe:a9fe::",
    // Teredo, site-local, discard-only, NAT64 of private IPv4 (well-known and local-use prefixes)
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "fec0::1",
    "feff::1",
    "100::1",
    "100::ffff:ffff:ffff:ffff",
    "64:ff9b::127.0.0.1",
    "64:ff9b::c0a8:101",
    "64:ff9b:1::a00:1",
    // multicast, unspecified, documentation
    "ff05::2",
    "0:0:0:0:0:0:0:0",
    "2001:db8::1",
    "192.0.2.1",
  ])("blocks %s", (address) => {
    expect(isBlockedAddress(address)).toBe(true);
  });

  it.each(["8.8.8.8", "93.184.216.34", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"])("allows the public %s", (address) => {
    expect(isBlockedAddress(address)).toBe(false);
  });
});

describe("AddressGuard.check", () => {
  it("refuses an IP literal in a private range, naming it", async () => {
    await expect(new AddressGuard(false).check(new URL("http://10.1.2.3/hook"))).rejects.toThrow(BlockedAddressError);
    await expect(new AddressGuard(false).check(new URL("http://[::1]:8080/hook"))).rejects.toThrow(/::1/);
    for (const literal of ["[::127.0.0.1]", "[::ffff:0:7f00:1]", "[2002:7f00:1::1]", "[2001::1]", "[fec0::1]", "[100::1]", "[64:ff9b::a00:1]"]) {
      await expect(new AddressGuard(false).check(new URL(`http://${literal}/hook`)), literal).rejects.toThrow(BlockedAddressError);
    }
  });

  it("accepts a public IP literal, and anything when private addresses are allowed", async () => {
    await expect(new AddressGuard(false).check(new URL("https://93.184.216.34/hook"))).resolves.toBeUndefined();
    await expect(new AddressGuard(true).check(new URL("http://127.0.0.1/hook"))).resolves.toBeUndefined();
  });
});

describe("AddressGuard.lookup (connect time)", () => {
  const resolve = (guard: AddressGuard, host: string) =>
    new Promise<string>((done, fail) =>
      guard.lookup(host, { all: false }, (error: NodeJS.ErrnoException | null, address?: unknown) => (error ? fail(error) : done(String(address)))),
    );

  it("fails a connection to a name that resolves only to loopback, and lets it through when private addresses are allowed", async () => {
    await expect(resolve(new AddressGuard(false), "localhost")).rejects.toThrow(BlockedAddressError);
    await expect(resolve(new AddressGuard(true), "localhost")).resolves.toMatch(/^(127\.0\.0\.1|::1)$/);
  });
});

describe("signatures", () => {
  it("generates whsec_ secrets of 32 random bytes", () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(secretKey(secret)).toHaveLength(32);
    expect(generateSecret()).not.toBe(secret);
  });

  it.each(["", "whsec_", "whsec_short", "sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "whsec_!!!!"])("refuses %j as a secret", (secret) => {
    expect(secretKey(secret)).toBeUndefined();
  });

  it("signs as the standardwebhooks library verifies, with one signature per secret", () => {
    const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
    const body = JSON.stringify({ hello: "wörld" });
    const timestamp = Math.floor(Date.now() / 1000);
    const header = signatureHeader([newSecret, oldSecret], "msg-1", timestamp, body);
    expect(header).toMatch(/^v1,[A-Za-z0-9+/]+=* v1,[A-Za-z0-9+/]+=*$/);
    const headers = { "webhook-id": "msg-1", "webhook-timestamp": String(timestamp), "webhook-signature": header };
    expect(new Webhook(oldSecret).verify(body, headers)).toEqual({ hello: "wörld" });
    expect(new Webhook(newSecret).verify(body, headers)).toEqual({ hello: "wörld" });
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
    expect(signatureHeader([newSecret], "msg-1", timestamp, body)).toBe(new Webhook(newSecret).sign("msg-1", new Date(timestamp * 1000), body));
  });
});

describe("RetryPolicy", () => {
  const policy = (random = () => 0.5) => new RetryPolicy({ scheduleSeconds: [0, 5, 300, 1800], retryAfterMaxSeconds: 600, random });

  it("waits as scheduled after each failed attempt, then gives up", () => {
    const exact = policy();
    expect([1, 2, 3].map((attempt) => exact.delayAfter(attempt))).toEqual([5, 300, 1800]);
    expect(exact.delayAfter(4)).toBeUndefined();
    expect(exact.maxAttempts).toBe(4);
  });

  it("spreads delays by at most 10%", () => {
    expect(policy(() => 0).delayAfter(2)).toBe(270);
    expect(policy(() => 0.999999).delayAfter(2)).toBe(330);
  });

  it("honours Retry-After within its bound, but not past the last attempt", () => {
    expect(policy().delayAfter(1, 42)).toBe(42);
    expect(policy().delayAfter(1, 86_400)).toBe(600);
    expect(policy().delayAfter(4, 1)).toBeUndefined();
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:01:30 GMT", now)).toBe(90);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe("pushBody", () => {
  const envelope = {
    id: "0190f1a2-0000-7000-8000-000000000001",
    type: "certificate.transferred",
    source: { name: "registry dk", version: "2" },
    time: "2026-01-01T00:00:00.000Z",
    subject: "cert-1",
    parentId: "0190f1a2-0000-7000-8000-000000000000",
    correlationId: "0190f1a2-0000-7000-8000-000000000000",
    channel: "http",
    data: { certificateId: "cert-1", owner: "b" },
  };
  const json = JSON.stringify(envelope);

  it("sends the envelope byte for byte by default", () => {
    expect(pushBody("envelope", json)).toEqual({ contentType: "application/json", body: json });
  });

  it("maps the envelope onto a structured CloudEvent with traceability extensions", () => {
    const { contentType, body } = pushBody("cloudevents", json);
    expect(contentType).toBe("application/cloudevents+json");
    expect(JSON.parse(body)).toEqual({
      specversion: "1.0",
      id: envelope.id,
      type: envelope.type,
      source: "/certflow/sources/registry%20dk",
      time: envelope.time,
      subject: "cert-1",
      datacontenttype: "application/json",
      data: envelope.data,
      correlationid: envelope.correlationId,
      parentid: envelope.parentId,
      channel: "http",
      sourceversion: "2",
    });
  });
});
