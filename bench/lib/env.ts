import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

/** Repository root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/**
 * The checkout whose `src/main.ts` is the system under test (this one unless BENCH_CERTFLOW_DIR
 * names another, e.g. an unpacked `git archive` of a commit with node_modules linked in, to
 * compare two versions with the same bench code).
 */
export const CERTFLOW_DIR = process.env.BENCH_CERTFLOW_DIR ?? ROOT;

export const ADMIN_TOKEN = process.env.BENCH_ADMIN_TOKEN ?? "bench-admin-token-0123456789";
/** A database of its own; certflow creates it on first start (ensureDatabase). Each run uses a fresh schema in it. */
export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/certflow_bench";
export const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

/** Multiplies every size (counts and durations); 1 keeps `npm run bench` within a few minutes on 2 cores. */
export const SCALE = parsePositive("BENCH_SCALE", 1);
/** Measured rounds per ingest figure, alternating certflow and baseline; the best round of each side is reported. */
export const ROUNDS = Math.max(1, Math.round(parsePositive("BENCH_ROUNDS", 3)));
/** When set, the certflow process runs with --cpu-prof and writes its profiles here. */
export const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? resolveProfDir(process.env.BENCH_CPU_PROF) : undefined;

/** A size scaled by BENCH_SCALE, rounded to a multiple of `step`, never below `min`. */
export function scaled(base: number, { min = 1, step = 1 }: { min?: number; step?: number } = {}): number {
  return Math.max(min, Math.round((base * SCALE) / step) * step);
}

/** A lower-case identifier usable both as a PostgreSQL schema and as a NATS namespace. */
export function isolationId(prefix: string): string {
  return `bench_${prefix}_${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
}

function parsePositive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

function resolveProfDir(value: string): string {
  if (value === "1" || value === "true") return fileURLToPath(new URL("../results/profiles", import.meta.url));
  return value;
}
