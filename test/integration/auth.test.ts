import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProducer, createSubscription, unique } from "../support/fixtures.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

/**
 * The auth matrix, generated from the served OpenAPI document: every operation is called by
 * every kind of caller, with malformed parameters, query and body, so a credential that is
 * checked after validation shows up as a 400 where a 401 or 403 is expected. Who may call an
 * operation is declared here, per operation; an operation the document has and this table does
 * not fails the suite.
 */
type Caller = "none" | "wrong" | "producer" | "other" | "own" | "admin";
type Allowed = Array<"producer" | "own" | "admin">;

const ALLOWED: Record<string, Allowed> = {
  "POST /v1/producers": ["admin"],
  "GET /v1/producers": ["admin"],
  "DELETE /v1/producers/{name}": ["admin"],
  "POST /v1/producers/{name}/token": ["admin"],
  "POST /v1/notifications": ["producer"],
  "POST /v1/notifications/batch": ["producer"],
  "GET /v1/notifications/{id}": ["admin", "producer"],
  "GET /v1/notifications/{id}/trace": ["admin", "producer"],
  "POST /v1/subscriptions": ["admin"],
  "GET /v1/subscriptions": ["admin"],
  "GET /v1/subscriptions/{name}": ["admin", "own"],
  "PATCH /v1/subscriptions/{name}": ["admin"],
  "DELETE /v1/subscriptions/{name}": ["admin", "own"],
  "POST /v1/subscriptions/{name}/token": ["admin"],
  "POST /v1/subscriptions/{name}/secret": ["admin"],
  "GET /v1/subscriptions/{name}/deliveries": ["admin", "own"],
  "GET /v1/subscriptions/{name}/messages": ["admin", "own"],
  "POST /v1/subscriptions/{name}/pull": ["admin", "own"],
  "POST /v1/subscriptions/{name}/acks": ["admin", "own"],
  "POST /v1/subscriptions/{name}/nacks": ["admin", "own"],
  "POST /v1/subscriptions/{name}/rejects": ["admin", "own"],
  "GET /v1/subscriptions/{name}/dead-letters": ["admin", "own"],
  "POST /v1/subscriptions/{name}/dead-letters/redrive": ["admin", "own"],
  "POST /v1/subscriptions/{name}/prefill": ["admin", "own"],
  "POST /v1/subscriptions/{name}/resume": ["admin", "own"],
  "POST /v1/subscriptions/{name}/rewind": ["admin", "own"],
  "GET /v1/subscriptions/{name}/position": ["admin", "own"],
  "GET /v1/traces/{correlationId}": ["admin", "producer"],
  "GET /v1/certificates": ["admin", "producer"],
  "POST /v1/certificates/annual": ["admin", "producer"],
  "GET /v1/certificates/{id}": ["admin", "producer"],
  "POST /v1/certificates/{id}/cancel": ["admin", "producer"],
  "GET /v1/certificates/{id}/history": ["admin", "producer"],
  "GET /v1/certificates/{id}/validation": ["admin", "producer"],
  "GET /v1/certificates/{id}/trades": ["admin", "producer"],
  "POST /v1/conversions": ["admin", "producer"],
  "GET /v1/conversions/{id}": ["admin", "producer"],
  "POST /v1/trades": ["admin", "producer"],
  "GET /v1/trades": ["admin", "producer"],
  "GET /v1/trades/{id}": ["admin", "producer"],
  "GET /v1/statistics": ["admin", "producer"],
  "POST /v1/certificates/{id}/slices": ["admin", "producer"],
  "POST /v1/certificates/{id}/transfers": ["admin", "producer"],
  "POST /v1/certificates/{id}/claims": ["admin", "producer"],
  "POST /v1/certificates/{id}/withdrawals": ["admin", "producer"],
  "GET /v1/commands": ["admin", "producer"],
  "GET /v1/commands/{id}": ["admin", "producer"],
  "POST /v1/commands/{id}/resolve": ["admin"],
  "POST /v1/registry/reconcile": ["admin"],
  "GET /v1/cluster": ["admin"],
};

/** Operations that change the credential or the subscription they are called on get a fresh subscription per call. */
const DESTRUCTIVE = new Set(["DELETE /v1/subscriptions/{name}", "POST /v1/subscriptions/{name}/token"]);

const CALLERS: Caller[] = ["none", "wrong", "producer", "other", "own", "admin"];
/** Fails every schema in the API: wrong types for the fields any operation has. */
const MALFORMED_BODY = JSON.stringify({ ackIds: 5, name: [], filters: "x", notifications: {}, delivery: 1, id: false });
const MALFORMED_QUERY = "?limit=minus-one&max=-5&wait=forever&status=bogus&cursor=%00";

let system: TestSystem;
let operations: string[];
const tokens: Record<Exclude<Caller, "none" | "own">, string> = { wrong: "cfs_this-token-was-never-issued-0000000000000", producer: "", other: "", admin: ADMIN_TOKEN };
let shared: { name: string; token: string };

beforeAll(async () => {
  system = await startTestSystem();
  tokens.producer = await createProducer(system.api);
  tokens.other = (await createSubscription(system.api)).token;
  shared = await createSubscription(system.api);
  const document = (await system.api.get("/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
  operations = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((method) => ["get", "post", "put", "patch", "delete"].includes(method))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
});
afterAll(() => system.destroy());

async function call(operation: string, caller: Caller): Promise<{ status: number; body: any }> {
  const [method, template] = operation.split(" ") as [string, string];
  const target = DESTRUCTIVE.has(operation) ? await createSubscription(system.api, { name: unique("victim") }) : shared;
  const path = template.replace("{name}", target.name).replace("{id}", "not an id %%");
  const token = caller === "none" ? undefined : caller === "own" ? target.token : tokens[caller];
  const withBody = method !== "GET" && method !== "DELETE";
  return system.api.request(method, path + MALFORMED_QUERY, {
    token,
    ...(withBody ? { rawBody: MALFORMED_BODY, headers: { "content-type": "application/json" } } : {}),
  });
}

describe("auth matrix from /openapi.json", () => {
  it("declares who may call every operation the document has, and nothing it does not have", () => {
    const undeclared = operations.filter((operation) => !(operation in ALLOWED));
    expect(undeclared, "operations without a declared auth expectation").toEqual([]);
    expect(Object.keys(ALLOWED).filter((operation) => !operations.includes(operation)), "declared operations missing from the document").toEqual([]);
  });

  it.each(Object.keys(ALLOWED))("%s: checks the credential before the request's parameters, query and body", async (operation) => {
    const allowed = ALLOWED[operation]!;
    for (const caller of CALLERS) {
      const response = await call(operation, caller);
      const what = `${caller} on ${operation}: ${response.status} ${JSON.stringify(response.body)}`;
      if (caller === "none" || caller === "wrong") {
        expect(response.status, what).toBe(401);
        expect(response.body.code, what).toBe("unauthorized");
      } else if (!allowed.includes(caller as Allowed[number])) {
        expect(response.status, what).toBe(403);
        expect(response.body.code, what).toBe("forbidden");
      } else {
        // Let through: the malformed request is now judged on its merits, never as a server error.
        expect([401, 403], what).not.toContain(response.status);
        expect(response.status, what).toBeLessThan(500);
      }
    }
  });

  it("serves the operations endpoints without a credential", async () => {
    expect((await system.api.get("/healthz")).status).toBe(200);
    expect((await system.api.get("/readyz")).status).toBe(200);
    expect((await system.api.get("/openapi.json")).status).toBe(200);
  });
});
