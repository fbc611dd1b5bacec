import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { verifyWebhook, WebhookVerificationError } from "../../clients/typescript/src/webhooks.js";

const secret = `whsec_${Buffer.from("a-signing-secret-of-32-bytes-abc").toString("base64")}`;
const body = JSON.stringify({ id: "0190", type: "certificate.issued" });

function signed(at: Date, payload = body) {
  const id = "0190a7c8-0000-7000-8000-000000000001";
  const signature = new Webhook(secret).sign(id, at, payload);
  return { "webhook-id": id, "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": signature };
}

describe("verifyWebhook (Standard Webhooks)", () => {
  it("accepts what the reference library signs and returns the parsed body", () => {
    expect(verifyWebhook(secret, body, signed(new Date()))).toEqual({ id: "0190", type: "certificate.issued" });
  });

  it("accepts a header with several signatures when one matches (secret rotation)", () => {
    const headers = signed(new Date());
    headers["webhook-signature"] = `v1,${Buffer.alloc(32).toString("base64")} ${headers["webhook-signature"]}`;
    expect(() => verifyWebhook(secret, body, new Headers(headers))).not.toThrow();
  });

  it("refuses a changed body, another secret, an old timestamp and missing headers", () => {
    const headers = signed(new Date());
    expect(() => verifyWebhook(secret, body.replace("0190", "0191"), headers)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(`whsec_${Buffer.from("another-secret").toString("base64")}`, body, headers)).toThrow(/no signature/);
    expect(() => verifyWebhook(secret, body, signed(new Date(Date.now() - 3600_000)))).toThrow(/too far/);
    expect(() => verifyWebhook(secret, body, { "webhook-id": "x" })).toThrow(/missing header/);
  });
});
