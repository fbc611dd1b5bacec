import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ack, createProducer, createSubscription, issued, pull, type PulledMessage } from "../support/fixtures.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
let endpoint: Receiver | undefined;
afterEach(async () => {
  await system?.destroy();
  await endpoint?.close();
  system = undefined;
  endpoint = undefined;
});

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
const traceIdOf = (traceparent: string | undefined) => TRACEPARENT.exec(traceparent ?? "")?.[1];

describe("trace context", () => {
  it("keeps one W3C trace through two subscriptions, a retry, an ack and a caused notification, and returns the tree", async () => {
    system = await startTestSystem({ env: { CERTFLOW_PUSH_ALLOW_PRIVATE: "true", CERTFLOW_PUSH_RETRY_SCHEDULE: "0,1,1" } });
    const { api } = system;
    endpoint = await startReceiver((_, index) => (index === 0 ? { status: 500 } : { status: 200 }));
    const producer = await createProducer(api);
    const created = await api.post(
      "/v1/subscriptions",
      { name: "hook", filters: [{ types: ["certificate.issued"] }], delivery: { mode: "push", url: endpoint.url } },
      ADMIN_TOKEN,
    );
    expect(created.status).toBe(201);
    const puller = await createSubscription(api, { name: "puller", filters: [{ types: ["certificate.*"] }] });

    // A: posted without trace context, so certflow makes a root.
    const a = await api.post("/v1/notifications", issued("cert-a"), producer);
    expect(a.status).toBe(202);
    await eventually(() => expect(endpoint!.requests).toHaveLength(2), { what: "a failed attempt and its retry" });
    const traceId = traceIdOf(endpoint.requests[0]!.headers.traceparent);
    expect(traceId).toBeDefined();
    expect(endpoint.requests.map((request) => traceIdOf(request.headers.traceparent))).toEqual([traceId, traceId]);
    const attemptSpans = endpoint.requests.map((request) => TRACEPARENT.exec(request.headers.traceparent!)![2]);
    expect(attemptSpans[0]).not.toBe(attemptSpans[1]);

    // The puller gets A with its traceparent, acks it, and publishes B caused by A in the same trace.
    const pulled: PulledMessage[] = [];
    await eventually(async () => {
      pulled.push(...(await pull(api, puller.name, puller.token, "max=10&wait=1")));
      expect(pulled).toHaveLength(1);
    });
    const received = pulled[0]!.notification;
    expect(traceIdOf(received.traceparent)).toBe(traceId);
    await ack(api, puller.name, puller.token, pulled);
    const b = await api.post(
      "/v1/notifications",
      issued("cert-b", {}, { type: "certificate.issued", parentId: a.body.id }),
      producer,
      { headers: { traceparent: received.traceparent, tracestate: "vendor=certflow-test" } },
    );
    expect(b.status).toBe(202);
    await eventually(() => expect(endpoint!.requests).toHaveLength(3));
    expect(traceIdOf(endpoint.requests[2]!.headers.traceparent)).toBe(traceId);
    expect(endpoint.requests[2]!.headers.tracestate).toBe("vendor=certflow-test");

    // A malformed traceparent is ignored: a new root.
    const stray = await api.post("/v1/notifications", issued("cert-c"), producer, { headers: { traceparent: "00-zz-01" } });
    expect(stray.status).toBe(202);

    const correlationId = received.correlationId as string;
    const tree = await eventually(async () => {
      const response = await api.get(`/v1/traces/${correlationId}`, ADMIN_TOKEN);
      expect(response.status).toBe(200);
      const root = response.body.roots[0];
      expect(root.caused[0]?.deliveries.find((d: { subscription: string }) => d.subscription === "puller")).toBeDefined();
      expect(root.deliveries.find((d: { subscription: string }) => d.subscription === "hook").state).toBe("acked");
      return response.body;
    });
    expect(tree.roots).toHaveLength(1);
    const [root] = tree.roots;
    expect(root).toMatchObject({ id: a.body.id, traceId, parentId: null });
    const hook = root.deliveries.find((d: { subscription: string }) => d.subscription === "hook");
    expect(hook.attempts.map((attempt: { statusCode: number; outcome: string }) => [attempt.statusCode, attempt.outcome])).toEqual([
      [500, "failed"],
      [200, "succeeded"],
    ]);
    expect(hook.attempts.map((attempt: { spanId: string }) => attempt.spanId)).toEqual(attemptSpans);
    const pull_ = root.deliveries.find((d: { subscription: string }) => d.subscription === "puller");
    expect(pull_).toMatchObject({ state: "acked", deliveryCount: 1, attempts: [], finishedAt: expect.any(String) });
    expect(root.caused).toHaveLength(1);
    expect(root.caused[0]).toMatchObject({ id: b.body.id, parentId: a.body.id, traceId });
    expect(root.caused[0].deliveries.map((d: { subscription: string }) => d.subscription).sort()).toEqual(["hook", "puller"]);
    await eventually(async () => {
      const strayTree = await api.get(`/v1/traces/${stray.body.id}`, ADMIN_TOKEN);
      expect(strayTree.status).toBe(200);
      expect(strayTree.body.roots[0].traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(strayTree.body.roots[0].traceId).not.toBe(traceId);
    });
    expect((await api.get("/v1/traces/01890000-0000-7000-8000-000000000000", ADMIN_TOKEN)).status).toBe(404);
  });
});

describe("span export", () => {
  it("exports the accept and webhook spans over OTLP/HTTP to a collector, with the ids the headers carry", async () => {
    const { createServer } = await import("node:http");
    const spans: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string }> = [];
    const collector = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        if (request.url === "/v1/traces") {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          for (const resource of body.resourceSpans ?? []) for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans);
        }
        response.writeHead(200, { "content-type": "application/json" });
        response.end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    try {
      const port = (collector.address() as { port: number }).port;
      endpoint = await startReceiver(() => ({ status: 204 }));
      system = await startTestSystem({ env: { CERTFLOW_PUSH_ALLOW_PRIVATE: "true", OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } });
      const { api } = system;
      const producer = await createProducer(api);
      const created = await api.post(
        "/v1/subscriptions",
        { name: "exported", filters: [{ types: ["certificate.*"] }], delivery: { mode: "push", url: endpoint.url } },
        ADMIN_TOKEN,
      );
      expect(created.status).toBe(201);
      const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
      const callerSpan = "00f067aa0ba902b7";
      const posted = await api.post("/v1/notifications", issued("cert-x"), producer, { headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` } });
      expect(posted.status).toBe(202);
      await eventually(() => expect(endpoint!.requests).toHaveLength(1));
      const webhookSpan = TRACEPARENT.exec(endpoint.requests[0]!.headers.traceparent!)!;
      expect(webhookSpan[1]).toBe(callerTrace);
      await eventually(() => expect(spans.map((span) => span.name).sort()).toEqual(["accept certificate.issued", "webhook exported"]), {
        what: "both spans at the collector",
      });
      const accept = spans.find((span) => span.name.startsWith("accept"))!;
      const webhook = spans.find((span) => span.name.startsWith("webhook"))!;
      expect(accept).toMatchObject({ traceId: callerTrace, parentSpanId: callerSpan });
      expect(webhook).toMatchObject({ traceId: callerTrace, parentSpanId: accept.spanId, spanId: webhookSpan[2] });
    } finally {
      collector.closeAllConnections();
      await new Promise<void>((resolve) => collector.close(() => resolve()));
    }
  });
});
