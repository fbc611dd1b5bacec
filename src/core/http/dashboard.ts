import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { App } from "./env.js";

/** The dashboard's build output (`npm run build` writes it); the same place from src/ and dist/. */
const BUILD_DIR = fileURLToPath(new URL("../../../dist-ui/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>certflow dashboard</title>
<p>The dashboard is not built. Run <code>npm run build</code> (or <code>npm start</code>, which builds it).</p>`;

/** Serves the operator dashboard at /ui: static files, no credential (the page asks for the admin token). */
export function mountDashboard(app: App): void {
  app.get("/ui", (c) => c.redirect("/ui/", 301));
  app.get("/ui/", async (c) => {
    const page = await readFile(`${BUILD_DIR}index.html`, "utf8").catch(() => NOT_BUILT);
    return c.html(page, 200, { "cache-control": "no-cache" });
  });
  app.get("/ui/assets/:file", async (c) => {
    const file = c.req.param("file");
    const type = TYPES[extname(file)];
    if (!type || !/^[\w.-]+$/.test(file)) return c.notFound();
    const body = await readFile(`${BUILD_DIR}assets/${file}`).catch(() => undefined);
    if (!body) return c.notFound();
    // Asset names carry a content hash: they never change.
    return c.body(body, 200, { "content-type": type, "cache-control": "public, max-age=31536000, immutable" });
  });
}
