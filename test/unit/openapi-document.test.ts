import { describe, expect, it } from "vitest";
import { operationIdOf } from "../../src/core/http/openapi-document.js";

describe("operationIdOf", () => {
  it("derives a stable camelCase id from the method and the path, without the version", () => {
    expect(operationIdOf("get", "/v1/subscriptions")).toBe("getSubscriptions");
    expect(operationIdOf("post", "/v1/subscriptions/{name}/dead-letters/redrive")).toBe("postSubscriptionsByNameDeadLettersRedrive");
    expect(operationIdOf("GET", "/v1/commands/{id}")).toBe("getCommandsById");
  });

  it("tells apart paths that differ only by a parameter", () => {
    expect(operationIdOf("get", "/v1/certificates/{id}")).not.toBe(operationIdOf("get", "/v1/certificates"));
  });
});
