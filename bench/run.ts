/**
 * certflow's benchmark suite: `npm run bench` runs every benchmark, `npm run bench -- ingest`
 * (or end-to-end, latency, prefill, push, certificates, registry-emulator, connector, peers, scale, backlog) runs those named. Every figure is a ratio to a baseline measured in
 * the same run with the same client. BENCH_SCALE multiplies the sizes; see bench/lib/env.ts.
 */
import { backlog } from "./backlog.js";
import { certificates } from "./certificates.js";
import { connector } from "./connector.js";
import { endToEnd } from "./end-to-end.js";
import { ingest } from "./ingest.js";
import { latency } from "./latency.js";
import { peers } from "./peers.js";
import { prefill } from "./prefill.js";
import { push } from "./push.js";
import { registryEmulator } from "./registry-emulator.js";
import { scale } from "./scale.js";
import { runAllCleanups } from "./lib/cleanup.js";
import { CERTFLOW_DIR, CPU_PROF_DIR, ROOT, ROUNDS, SCALE } from "./lib/env.js";
import { printSummary, writeResults, type Figure } from "./lib/results.js";

const BENCHMARKS: Record<string, () => Promise<Figure[]>> = {
  ingest,
  "end-to-end": endToEnd,
  latency,
  prefill,
  push,
  certificates,
  "registry-emulator": registryEmulator,
  connector,
  peers,
  scale,
  backlog,
};
const ALIASES: Record<string, string> = { e2e: "end-to-end", endtoend: "end-to-end", registry: "registry-emulator" };

async function main(): Promise<number> {
  const asked = process.argv.slice(2).map((name) => ALIASES[name.toLowerCase()] ?? name.toLowerCase());
  const unknown = asked.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(", ")}; choose from ${Object.keys(BENCHMARKS).join(", ")}`);
    return 2;
  }
  const selected = asked.length > 0 ? Object.keys(BENCHMARKS).filter((name) => asked.includes(name)) : Object.keys(BENCHMARKS);
  console.log(`certflow benchmarks: ${selected.join(", ")} (BENCH_SCALE=${SCALE}, BENCH_ROUNDS=${ROUNDS})`);
  if (CERTFLOW_DIR !== ROOT) console.log(`system under test: ${CERTFLOW_DIR}`);
  if (CPU_PROF_DIR) console.log(`certflow CPU profiles go to ${CPU_PROF_DIR}`);

  const started = performance.now();
  const figures: Figure[] = [];
  const failures: string[] = [];
  for (const name of selected) {
    console.log(`\n== ${name}`);
    const began = performance.now();
    try {
      figures.push(...(await BENCHMARKS[name]!()));
    } catch (error) {
      failures.push(`${name}: ${(error as Error).stack ?? error}`);
      console.error(`${name} failed: ${(error as Error).stack ?? error}`);
    } finally {
      await runAllCleanups();
    }
    console.log(`== ${name} took ${((performance.now() - began) / 1000).toFixed(0)} s`);
  }

  printSummary(figures);
  const path = writeResults(figures, {
    benchmarks: selected,
    systemUnderTest: CERTFLOW_DIR,
    failures,
    durationSeconds: Math.round((performance.now() - started) / 1000),
  });
  console.log(`\nwritten to ${path} (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
  if (failures.length > 0) console.error(`${failures.length} benchmark(s) failed`);
  return failures.length > 0 ? 1 : 0;
}

let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n${signal}: stopping the processes started and removing their schemas and streams`);
    void runAllCleanups().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    console.error(error);
    await runAllCleanups();
    process.exit(1);
  },
);
