#!/usr/bin/env node
// `npm run build` (and `npm start` before it runs): compiles the server to dist/ and the dashboard
// to dist-ui/, each only when one of its sources is newer than its last build. Nothing is deleted
// first, so processes already running from dist/ keep their files.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const only = process.argv[2]; // "server" or "ui"; both when absent

const TARGETS = {
  server: {
    sources: ["src", "tsconfig.json", "tsconfig.build.json", "package.json"],
    stamp: "dist/.build-stamp",
    command: ["node_modules/.bin/tsc", ["-p", "tsconfig.build.json"]],
  },
  ui: {
    sources: ["ui", "clients/typescript/src/schema.ts", "package.json"],
    stamp: "dist-ui/.build-stamp",
    command: ["node_modules/.bin/vite", ["build", "-c", "ui/vite.config.ts"]],
  },
};

function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((entry) => newest(join(path, entry))));
}

let failed = false;
for (const [name, target] of Object.entries(TARGETS)) {
  if (only && only !== name) continue;
  const built = existsSync(target.stamp) ? statSync(target.stamp).mtimeMs : 0;
  if (Math.max(...target.sources.map(newest)) <= built) {
    console.log(`${name}: up to date`);
    continue;
  }
  const started = Date.now();
  const [command, args] = target.command;
  const run = spawnSync(command, args, { stdio: "inherit" });
  if (run.status !== 0) {
    console.error(`${name}: build failed`);
    failed = true;
    continue;
  }
  mkdirSync(target.stamp.split("/")[0], { recursive: true });
  writeFileSync(target.stamp, new Date().toISOString());
  console.log(`${name}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
process.exit(failed ? 1 : 0);
