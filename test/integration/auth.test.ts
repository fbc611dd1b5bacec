import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { createProducer, createSubscription, issued } from "../support/fixtures.js";

let system: TestSystem;
const tokens: Record<string, string> = {};

// One system for the whole matrix: every request below is read-only or idempotent per principal.
beforeAll(async () => {
  system = await startTestSystem();
  tokens.admin = ADMIN_TOKEN;
  tokens.producer = await createProducer(system.api, "registry");
  tokens.own = (await createSubscription(system.api, { name: "own" })).token;
  tokens.other = (await createSubscription(system.api, { name: "other" })).token;
  tokens.wrong = "cfs_this-token-was-never-issued-0000000000000";
});
afterAll(() => system.destroy());

type Principal = "admin" | "producer" | "own" | "other";

interface Endpoint {
  method: string;
  path: string;
  body?: unknown;
  allowed: Principal[];
}

const ENDPOINTS: Endpoint[] = [
  { method: "POST", path: "/v1/producers", body: { name: "x" }, allowed: ["admin"] },
  { method: "GET", path: "/v1/producers", allowed: ["admin"] },
  { method: "DELETE", path: "/v1/producers/nobody", allowed: ["admin"] },
  { method: "POST", path: "/v1/notifications", body: issued("c-1"), allowed: ["producer"] },
  { method: "POST", path: "/v1/notifications/batch", body: { notifications: [issued("c-1")] }, allowed: ["producer"] },
  { method: "POST", path: "/v1/subscriptions", body: { name: "own", filters: [{ types: ["*"] }] }, allowed: ["admin"] },
  { method: "GET", path: "/v1/subscriptions", allowed: ["admin"] },
  { method: "GET", path: "/v1/subscriptions/own", allowed: ["admin", "own"] },
  { method: "PATCH", path: "/v1/subscriptions/own", body: { description: "x" }, allowed: ["admin"] },
  { method: "POST", path: "/v1/subscriptions/own/token", allowed: ["admin"] },
  { method: "POST", path: "/v1/subscriptions/own/resume", allowed: ["admin", "own"] },
  { method: "POST", path: "/v1/subscriptions/own/rewind", body: { fromSequence: 1 }, allowed: ["admin", "own"] },
  { method: "GET", path: "/v1/subscriptions/own/position", allowed: ["admin", "own"] },
  { method: "GET", path: "/v1/traces/01890000-0000-7000-8000-000000000000", allowed: ["admin", "producer"] },
  { method: "GET", path: "/v1/subscriptions/own/messages", allowed: ["admin", "own"] },
  { method: "POST", path: "/v1/subscriptions/own/acks", body: { ackIds: ["l1.1"] }, allowed: ["admin", "own"] },
  { method: "POST", path: "/v1/subscriptions/own/nacks", body: { ackIds: ["l1.1"] }, allowed: ["admin", "own"] },
  { method: "POST", path: "/v1/subscriptions/own/rejects", body: { ackIds: ["l1.1"] }, allowed: ["admin", "own"] },
  { method: "GET", path: "/v1/subscriptions/own/dead-letters", allowed: ["admin", "own"] },
  { method: "POST", path: "/v1/subscriptions/own/dead-letters/redrive", body: {}, allowed: ["admin", "own"] },
  { method: "DELETE", path: "/v1/subscriptions/own", allowed: ["admin", "own"] },
];

const call = (endpoint: Endpoint, token: string | undefined, headers: Record<string, string> = {}) =>
  system.api.request(endpoint.method, endpoint.path, { token, body: endpoint.body, headers });

const label = (endpoint: Endpoint) => `${endpoint.method} ${endpoint.path}`;

describe.each(ENDPOINTS)("$method $path", (endpoint) => {
  it("refuses a request without a token with 401 problem+json", async () => {
    const response = await call(endpoint, undefined);
    expect(response.status, label(endpoint)).toBe(401);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.body).toMatchObject({ code: "unauthorized", status: 401, requestId: expect.any(String) });
  });

  it("refuses an unknown token and a malformed header with 401", async () => {
    expect((await call(endpoint, tokens.wrong)).status, label(endpoint)).toBe(401);
    expect((await call(endpoint, "not-the-admin-token-at-all")).status).toBe(401);
    const malformed = await call(endpoint, undefined, { authorization: `Basic ${tokens.admin}` });
    expect(malformed.status).toBe(401);
  });

  it("refuses principals it is not for with 403, and lets the others through", async () => {
    for (const principal of ["producer", "own", "other"] as const) {
      if (endpoint.allowed.includes(principal)) continue;
      const response = await call(endpoint, tokens[principal]);
      expect(response.status, `${principal} on ${label(endpoint)}`).toBe(403);
      expect(response.body.code).toBe("forbidden");
    }
    // Deleting "own" must stay last for this principal, so only check non-destructive ones here.
    if (endpoint.method === "DELETE" && endpoint.path === "/v1/subscriptions/own") return;
    for (const principal of endpoint.allowed) {
      const response = await call(endpoint, tokens[principal]);
      expect([401, 403], `${principal} on ${label(endpoint)}: ${JSON.stringify(response.body)}`).not.toContain(response.status);
      // Rotating replaces the subscription's token: the rest of the matrix uses the new one.
      if (endpoint.path.endsWith("/token")) tokens.own = response.body.token;
    }
  });
});

describe("operations endpoints", () => {
  it("serve without a credential", async () => {
    expect((await system.api.get("/healthz")).status).toBe(200);
    expect((await system.api.get("/readyz")).status).toBe(200);
    expect((await system.api.get("/openapi.json")).status).toBe(200);
  });
});
