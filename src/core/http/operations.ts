import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { AppError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import { mountDashboard } from "./dashboard.js";
import type { App } from "./env.js";
import { buildOpenApiDocument } from "./openapi-document.js";
import { asyncApiDocument, asyncApiPage } from "./asyncapi.js";
import { problemResponse } from "./problem.js";

/** Each check throws when its part is not ready; what it returns (e.g. the stream's cluster state) is shown. */
export type ReadinessChecks = Record<string, () => Promise<unknown>>;

export interface OperationsOptions {
  metrics: Metrics;
  readiness: ReadinessChecks;
  version: string;
}

const DOCS_ASSETS = { "swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript" } as const;

/** Health, readiness, metrics and the API reference: served by every process, whatever services it runs. */
export function mountOperations(app: App, options: OperationsOptions): void {
  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const failures: string[] = [];
    const details: Record<string, unknown> = {};
    await Promise.all(
      Object.entries(options.readiness).map(([name, check]) =>
        withTimeout(check(), 2000).then(
          (detail) => (detail === undefined ? undefined : (details[name] = detail)),
          (error: unknown) => failures.push(`${name}: ${(error as Error).message}`),
        ),
      ),
    );
    if (failures.length > 0) return problemResponse(c, new AppError("unavailable", `not ready: ${failures.join("; ")}`));
    return c.json({ status: "ready", checks: Object.keys(options.readiness), ...details });
  });

  app.get("/metrics", async (c) =>
    c.body(await options.metrics.registry.metrics(), 200, { "content-type": options.metrics.registry.contentType }),
  );

  // Built on the first request, once every service has mounted its routes.
  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  app.get("/openapi.json", (c) => c.json((document ??= buildOpenApiDocument(app, { version: options.version }))));

  const asyncApi = asyncApiDocument(options.version);
  const asyncApiHtml = asyncApiPage(asyncApi);
  app.get("/asyncapi.json", (c) => c.json(asyncApi));
  app.get("/asyncapi", (c) => c.html(asyncApiHtml));

  app.get("/docs", (c) => c.html(DOCS_PAGE));
  mountDashboard(app);
  const assetsDir = swaggerUiDir();
  for (const [file, contentType] of Object.entries(DOCS_ASSETS)) {
    app.get(`/docs/${file}`, async (c) =>
      c.body(await readFile(join(assetsDir, file)), 200, { "content-type": contentType, "cache-control": "max-age=86400" }),
    );
  }
}

function swaggerUiDir(): string {
  const require = createRequire(import.meta.url);
  return join(require.resolve("swagger-ui-dist/package.json"), "..");
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>certflow API reference</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="reference"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#reference", persistAuthorization: true, tryItOutEnabled: true });
  </script>
</body>
</html>`;
