import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertflowError, CertflowUnreachableError, call, createCertflowClient, type Delivery } from "../../clients/typescript/src/index.js";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem;

beforeAll(async () => {
  system = await startTestSystem();
});
afterAll(() => system.destroy());

const data = (certificateId: string) => ({
  certificateId,
  kind: "annual" as const,
  deviceId: "WTG-17",
  gridArea: "DK1",
  energySource: "wind",
  periodStart: "2025-01-01T00:00:00Z",
  periodEnd: "2026-01-01T00:00:00Z",
  quantityWh: 1_250_000_000,
  owner: "acme",
  status: "active" as const,
  version: 1,
});

describe("the generated TypeScript client", () => {
  it("round trip: create a producer and a subscription, publish, consume() and ack", async () => {
    const admin = createCertflowClient({ baseUrl: system.url, token: ADMIN_TOKEN });
    const { token: producerToken } = await call(admin.api.POST("/v1/producers", { body: { name: "registry-dk" } }));
    // `prefill` has a default: the generated type leaves it optional.
    const created = await call(
      admin.api.POST("/v1/subscriptions", { body: { name: "dk1", filters: [{ types: ["certificate.*"], where: { gridArea: ["DK1"] } }] } }),
    );
    expect(created.subscription.name).toBe("dk1");

    const producer = createCertflowClient({ baseUrl: system.url, token: producerToken });
    const published = [];
    for (const id of ["GC-1", "GC-2", "GC-3"]) {
      published.push(await call(producer.api.POST("/v1/notifications", { body: { type: "certificate.issued", subject: id, data: data(id) } })));
    }

    await eventually(async () => {
      const described = await call(admin.api.GET("/v1/subscriptions/{name}", { params: { path: { name: "dk1" } } }));
      expect(described.stats).toMatchObject({ pending: 3, oldestPendingAt: expect.stringMatching(/^\d{4}-/) });
    });

    const subscriber = createCertflowClient({ baseUrl: system.url, token: (created as { token: string }).token });
    const received: Delivery[] = [];
    for await (const message of subscriber.consume("dk1", { max: 2, wait: 5 })) {
      received.push(message);
      if (message.notification.type === "certificate.issued") expect(message.notification.data.gridArea).toBe("DK1");
      message.ack();
      if (received.length === 3) break;
    }
    expect(received.map((message) => message.notification.id)).toEqual(published.map((result) => result.id));

    await eventually(async () => {
      const described = await call(admin.api.GET("/v1/subscriptions/{name}", { params: { path: { name: "dk1" } } }));
      expect(described.stats).toMatchObject({ pending: 0, acked: 3 });
    });
  });

  it("nacks what the loop leaves unsettled, so it comes again at once", async () => {
    const admin = createCertflowClient({ baseUrl: system.url, token: ADMIN_TOKEN });
    const { token } = await call(admin.api.POST("/v1/producers/{name}/token", { params: { path: { name: "registry-dk" } } }));
    await call(admin.api.POST("/v1/subscriptions", { body: { name: "left", filters: [{ types: ["*"] }] } }));
    const producer = createCertflowClient({ baseUrl: system.url, token });
    const { id } = await call(producer.api.POST("/v1/notifications", { body: { type: "certificate.issued", subject: "GC-9", data: data("GC-9") } }));

    for await (const message of admin.consume("left", { wait: 5 })) {
      expect(message.notification.id).toBe(id);
      break;
    }
    for await (const message of admin.consume("left", { wait: 5 })) {
      expect(message).toMatchObject({ deliveryCount: 2, notification: { id } });
      break;
    }
  });

  it("throws typed errors with the problem's code and request id, and tells an unreachable server apart", async () => {
    const admin = createCertflowClient({ baseUrl: system.url, token: ADMIN_TOKEN });
    const refused = await call(admin.api.GET("/v1/subscriptions/{name}", { params: { path: { name: "nobody" } } })).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CertflowError);
    expect(refused).toMatchObject({ status: 404, code: "not_found", requestId: expect.any(String) });

    const nowhere = createCertflowClient({ baseUrl: "http://127.0.0.1:1", token: ADMIN_TOKEN });
    await expect(call(nowhere.api.GET("/v1/subscriptions"))).rejects.toBeInstanceOf(CertflowUnreachableError);
  });
});
