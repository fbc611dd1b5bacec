import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// Preact through Vite's own JSX transform (no Babel preset needed); built into dist-ui/, which
// certflow serves at /ui. Old hashed assets are kept, so a rebuild never pulls files from under
// a running page.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/ui/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: fileURLToPath(new URL("../dist-ui", import.meta.url)), emptyOutDir: false, sourcemap: false },
  logLevel: "warn",
});
