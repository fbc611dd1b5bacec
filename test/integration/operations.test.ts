import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { createProducer, createSubscription, drain, issued, publish } from "../support/fixtures.js";

let system: TestSystem;

beforeEach(async () => {
  system = await startTestSystem();
});
afterEach(() => system.destroy());

describe("operations", () => {
  it("reports health and readiness", async () => {
    expect(await system.api.get("/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
    const ready = await system.api.get("/readyz");
    expect(ready).toMatchObject({ status: 200, body: { status: "ready", checks: ["nats", "postgres", "stream"] } });
    // One server: the stream has one replica, led by the server this process is connected to.
    expect(ready.body.stream).toMatchObject({ replicas: { wanted: 1, configured: 1 } });
    expect(ready.body.stream.leader).toBe(ready.body.stream.connectedServer);
  });

  it("echoes a request id, and makes one when none is given", async () => {
    const given = await system.api.get("/healthz", undefined, { headers: { "x-request-id": "trace-123" } });
    expect(given.headers.get("x-request-id")).toBe("trace-123");
    const made = await system.api.get("/v1/subscriptions", "wrong");
    expect(made.headers.get("x-request-id")).toBe(made.body.requestId);
  });

  it("answers unknown routes with a 404 problem", async () => {
    const response = await system.api.get("/v1/nothing-here", ADMIN_TOKEN);
    expect(response.status).toBe(404);
    expect(response.body.code).toBe("not_found");
  });

  it("exposes Prometheus metrics for the pipeline and HTTP latency", async () => {
    const producer = await createProducer(system.api);
    const subscription = await createSubscription(system.api, { name: "metered" });
    await publish(system.api, producer, issued("c-1"));
    await publish(system.api, producer, issued("c-2"));
    await drain(system.api, subscription.name, subscription.token, 2);
    await publish(system.api, producer, issued("c-3"));
    // c-3 is dispatched in the background: the figures are read once they include it.
    const text = await eventually(async () => {
      const response = await system.api.get("/metrics");
      expect(response.status).toBe(200);
      const text = response.body as string;
      const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
      expect(value('certflow_notifications_accepted_total{type="certificate.issued"}')).toBe(3);
      expect(value("certflow_notifications_dispatched_total")).toBe(3);
      expect(value('certflow_messages_delivered_total{mode="pull"}')).toBe(2);
      expect(value("certflow_messages_acked_total")).toBe(2);
      expect(value('certflow_subscription_pending{subscription="metered"}')).toBe(1);
      return text;
    });
    expect(text).toContain("certflow_http_request_duration_seconds_bucket");
    expect(text).toContain('route="/v1/notifications"');
    expect(text).toContain("certflow_messages_dead_lettered_total");
    // Process metrics keep their standard names, so stock dashboards and alerts find them.
    expect(text).toMatch(/^process_cpu_seconds_total \S+$/m);
    expect(text).not.toContain("certflow_process_");
  });

  it("serves the OpenAPI document generated from the schemas, and the interactive reference", async () => {
    const document = await system.api.get("/openapi.json");
    expect(document.body.openapi).toBe("3.1.0");
    const paths = Object.keys(document.body.paths);
    for (const path of [
      "/v1/notifications",
      "/v1/notifications/batch",
      "/v1/producers",
      "/v1/subscriptions",
      "/v1/subscriptions/{name}",
      "/v1/subscriptions/{name}/messages",
      "/v1/subscriptions/{name}/acks",
      "/v1/subscriptions/{name}/nacks",
      "/v1/subscriptions/{name}/rejects",
      "/v1/subscriptions/{name}/dead-letters",
      "/v1/subscriptions/{name}/dead-letters/redrive",
    ]) {
      expect(paths).toContain(path);
    }
    expect(document.body.components.schemas).toHaveProperty("NotificationInput");
    expect(document.body.components.schemas).toHaveProperty("Problem");

    const docs = await system.api.get("/docs");
    expect(docs.status).toBe(200);
    expect(docs.body).toContain("SwaggerUIBundle");
    expect((await system.api.get("/docs/swagger-ui-bundle.js")).status).toBe(200);
  });
});
