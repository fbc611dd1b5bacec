import { NOTIFICATION_TYPES, PRODUCED_TYPES } from "../../src/core/notifications/envelope.js";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENT_TYPES_FILE, renderClientTypes } from "../../scripts/client-types.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

const run = promisify(execFile);
const METHODS = ["get", "put", "post", "delete", "patch"];

let system: TestSystem;
let document: any;
let dir: string;

beforeAll(async () => {
  system = await startTestSystem();
  document = (await system.api.get("/openapi.json")).body;
  dir = mkdtempSync(join(tmpdir(), "certflow-openapi-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await system.destroy();
});

const operations = () =>
  Object.entries(document.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({ label: `${method.toUpperCase()} ${path}`, operation: item[method] })),
  );

describe("the served API document", () => {
  it("is lint-clean under spectral's spectral:oas ruleset: no error, no warning", async () => {
    const file = join(dir, "openapi.json");
    writeFileSync(file, JSON.stringify(document));
    const { stdout } = await run("node_modules/.bin/spectral", ["lint", "-r", ".spectral.yaml", "-f", "json", "--quiet", file]).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout }),
    );
    const results = JSON.parse(stdout) as Array<{ code: string; message: string; path: string[] }>;
    expect(results.map((result) => `${result.code}: ${result.message} at ${result.path.join(".")}`)).toEqual([]);
  }, 120_000);

  it("gives every operation a description, a unique operationId and a declared tag", () => {
    const declared = new Set((document.tags as Array<{ name: string }>).map((tag) => tag.name));
    const ids = new Set<string>();
    for (const { label, operation } of operations()) {
      expect(operation.description, `${label} needs a description in its route definition`).toEqual(expect.any(String));
      expect(ids.has(operation.operationId), `${label}: operationId ${operation.operationId} is taken`).toBe(false);
      ids.add(operation.operationId);
      for (const tag of operation.tags) expect(declared.has(tag), `${label}: tag ${tag}`).toBe(true);
    }
    expect(ids.size).toBeGreaterThan(30);
  });

  it("describes each notification type's data, the trace tree and the webhook payloads precisely", () => {
    const schemas = document.components.schemas;
    expect(schemas.Notification.discriminator.propertyName).toBe("type");
    expect(schemas.Notification.oneOf).toHaveLength(NOTIFICATION_TYPES.length);
    expect(schemas.NotificationInput.oneOf).toHaveLength(PRODUCED_TYPES.length);
    expect(schemas.CertificateTransferredNotification.properties.data.$ref).toBe("#/components/schemas/CertificateTransferredData");
    expect(schemas.CertificateTransferredData.required).toContain("previousOwner");
    expect(schemas.TraceTree.properties.children.items.$ref).toBe("#/components/schemas/TraceTree");
    const webhook = document.webhooks.notification.post;
    expect(Object.keys(webhook.requestBody.content)).toEqual(["application/json", "application/cloudevents+json"]);
    expect(webhook.parameters.map((parameter: { name: string }) => parameter.name)).toContain("webhook-signature");
  });

  it("does not make request fields with a default required in generated clients", () => {
    const prefill = document.components.schemas.CreateSubscription.properties.prefill;
    expect(prefill.default).toBeUndefined();
    expect(prefill.description).toMatch(/Default: `false`/);
  });

  it("matches the checked-in generated client types (run `npm run client:generate` after changing routes)", async () => {
    const checkedIn = readFileSync(CLIENT_TYPES_FILE, "utf8");
    expect(await renderClientTypes(document)).toBe(checkedIn);
  });
});
