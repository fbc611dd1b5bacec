/**
 * Summarises a V8 .cpuprofile (from BENCH_CPU_PROF=1): self time by function and by package or
 * source area, so the hot spots of the certflow process can be named with numbers.
 * Run: npx tsx bench/tools/profile-summary.ts bench/results/profiles/latency [top] [function]
 * With a function name, also prints the call paths that spent the most self time in it.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [given, topArg, callersOf] = process.argv.slice(2);
if (!given) throw new Error("usage: profile-summary.ts FILE.cpuprofile|DIRECTORY [top] [function whose callers to show]");
// A directory holds one profile per thread: the main thread's is the largest.
const path = statSync(given).isDirectory()
  ? readdirSync(given)
      .filter((name) => name.endsWith(".cpuprofile"))
      .map((name) => join(given, name))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!
  : given;
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const selfMicros = new Map<number, number>();
profile.samples.forEach((id, index) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
const totalMicros = profile.endTime - profile.startTime;

function area(url: string, name: string): string {
  if (!url) return name === "(garbage collector)" ? "(gc)" : name === "(idle)" ? "(idle)" : name === "(program)" ? "(program)" : "(native)";
  const modules = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
  if (modules) return modules[modules.length - 1]!.replace("node_modules/", "");
  const source = url.match(/\/(src|bench|test)\/(.*)$/);
  if (source) return `${source[1]}/${source[2]!.split("/").slice(0, -1).join("/") || "."}`;
  if (url.startsWith("node:")) return url;
  return url;
}

const functions = new Map<string, number>();
const areas = new Map<string, number>();
/** Time spent in a function or anything it called, per certflow source function (inclusive). */
const inclusive = new Map<string, number>();
for (const [id, micros] of selfMicros) {
  const node = byId.get(id)!;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = area(url, functionName);
  const key = `${functionName || "(anonymous)"} ${url ? `${url.replace(/^.*\/(node_modules|src|bench)\//, "$1/")}:${lineNumber + 1}` : ""}`;
  functions.set(key, (functions.get(key) ?? 0) + micros);
  areas.set(where, (areas.get(where) ?? 0) + micros);
  const seen = new Set<string>();
  for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
    const frame = byId.get(current)!.callFrame;
    if (!/\/src\//.test(frame.url)) continue;
    const name = `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*\/src\//, "src/")}:${frame.lineNumber + 1}`;
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
  }
}

const busy = totalMicros - (areas.get("(idle)") ?? 0);
const print = (title: string, entries: Map<string, number>, count: number) => {
  console.log(`\n${title}`);
  for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    console.log(`${(micros / 1000).toFixed(0).padStart(8)} ms ${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${name}`);
  }
};
console.log(`${path}: ${(totalMicros / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s not idle (percentages are of that)`);
print("self time by package / source area", areas, top);
print("self time by function", functions, top);
print("inclusive time by certflow function (src/)", inclusive, top);

if (callersOf) {
  const paths = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    if (byId.get(id)!.callFrame.functionName !== callersOf) continue;
    const frames: string[] = [];
    for (let current = parent.get(id); current !== undefined && frames.length < 12; current = parent.get(current)) {
      const frame = byId.get(current)!.callFrame;
      if (!frame.functionName && !frame.url) continue;
      frames.push(`${frame.functionName || "(anonymous)"}@${frame.url.replace(/^.*\/(node_modules|src)\//, "$1/").replace(/^node:internal\//, "")}:${frame.lineNumber + 1}`);
    }
    const key = frames.join(" < ");
    paths.set(key, (paths.get(key) ?? 0) + micros);
  }
  print(`call paths into ${callersOf}`, paths, 8);
}
