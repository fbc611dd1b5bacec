import { formatNumber } from "./stats.js";

/**
 * Prints a progress line every second while long work runs. `describe` returns the line;
 * `done`/`total` (when given) add the rate since the start.
 */
export function progress(label: string, describe: () => string, counter?: () => number): () => void {
  const started = performance.now();
  const timer = setInterval(() => {
    const elapsed = (performance.now() - started) / 1000;
    const rate = counter ? `, ${formatNumber(counter() / elapsed)}/s` : "";
    console.log(`    ${label}: ${describe()}${rate} [${elapsed.toFixed(0)} s]`);
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** Runs `task(i)` for i in [0, total) with at most `concurrency` in flight; rejects on the first failure. */
export async function closedLoop(total: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < total) {
      const index = next++;
      try {
        await task(index);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  if (failure !== undefined) throw failure;
}
