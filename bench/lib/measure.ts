import { cpuBetween, cpuSnapshot } from "./cpu.js";

export interface Measurement {
  ms: number;
  count: number;
  /** count per second. */
  rate: number;
  cpu: Record<string, string>;
}

/** Times `run` (which returns how many items it handled) and records the CPU each process used meanwhile. */
export async function measure(pids: Record<string, number | undefined>, run: () => Promise<number>): Promise<Measurement> {
  const before = cpuSnapshot(pids);
  const started = performance.now();
  const count = await run();
  const ms = performance.now() - started;
  const cpu = cpuBetween(before, cpuSnapshot(pids));
  return { ms, count, rate: (count * 1000) / ms, cpu };
}

/**
 * The fastest of several rounds. Other work on a shared machine only ever slows a round down,
 * so the best round is the least disturbed one; both sides of a figure are reduced the same way.
 */
export function bestRound(rounds: readonly Measurement[]): Measurement {
  return [...rounds].sort((a, b) => b.rate - a.rate)[0]!;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let index = 0; index < items.length; index += size) chunks.push(items.slice(index, index + size));
  return chunks;
}
