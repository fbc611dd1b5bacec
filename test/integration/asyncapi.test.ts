import { Parser } from "@asyncapi/parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOTIFICATION_TYPES } from "../../src/core/notifications/envelope.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem;
beforeAll(async () => {
  system = await startTestSystem();
});
afterAll(async () => {
  await system.destroy();
});

describe("AsyncAPI document", () => {
  it("is a valid AsyncAPI 3 document for @asyncapi/parser and names every notification type", async () => {
    const response = await system.api.get("/asyncapi.json");
    expect(response.status).toBe(200);
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(response.body));
    const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 0);
    expect(errors.map((error) => `${error.path.join(".")}: ${error.message}`)).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toBe("3.0.0");

    const messageNames = document!.components().messages().all().map((message) => message.name());
    for (const type of NOTIFICATION_TYPES) expect(messageNames).toContain(type);
    const channels = document!.channels().all().map((channel) => channel.address());
    expect(channels).toEqual(expect.arrayContaining(["{namespace}.notifications.{partition}", "/v1/subscriptions/{name}/messages", "{url}"]));
    const issued = document!.components().messages().all().find((message) => message.name() === "certificate.issued")!;
    expect(issued.payload()!.properties()!.type!.const()).toBe("certificate.issued");
    expect(Object.keys(issued.payload()!.properties()!.data!.properties()!)).toContain("quantityWh");
  });

  it("is rendered as a self-contained page", async () => {
    const response = await system.api.get("/asyncapi");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    for (const type of NOTIFICATION_TYPES) expect(response.body).toContain(`id="message-${type}"`);
    expect(response.body).not.toMatch(/<script|https?:\/\/(?!json-schema)/);
  });
});
