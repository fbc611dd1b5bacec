import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { SCALE, ROUNDS } from "./env.js";
import { formatNumber } from "./stats.js";

/** One reported figure: certflow beside its baseline, measured in the same run with the same client. */
export interface Figure {
  benchmark: string;
  name: string;
  unit: string;
  certflow: number;
  baseline: number;
  baselineName: string;
  /** certflow / baseline. */
  ratio: number;
  /** Whether a higher ratio is better (throughput) or worse (latency). */
  better: "higher" | "lower";
  /** Sizes, checks and side figures that explain the number. */
  details: Record<string, unknown>;
}

export function figure(fields: Omit<Figure, "ratio">): Figure {
  return { ...fields, ratio: fields.certflow / fields.baseline };
}

/** The line printed as soon as a figure is measured: the value beside its baseline. */
export function announce(result: Figure): void {
  const digits = result.unit === "ms" ? 1 : 0;
  console.log(
    `  => ${result.name}: certflow ${formatNumber(result.certflow, digits)} ${result.unit} vs ${result.baselineName} ` +
      `${formatNumber(result.baseline, digits)} ${result.unit} = ${formatRatio(result)}`,
  );
}

export const formatRatio = (result: Figure) =>
  `${Number.isFinite(result.ratio) ? result.ratio.toFixed(2) : "n/a"}x${result.better === "lower" ? " (lower is better)" : ""}`;

export function printSummary(figures: readonly Figure[]): void {
  const rows = figures.map((result) => {
    const digits = result.unit === "ms" ? 1 : 0;
    return [
      result.name,
      `${formatNumber(result.certflow, digits)} ${result.unit}`,
      `${formatNumber(result.baseline, digits)} ${result.unit} (${result.baselineName})`,
      formatRatio(result),
    ];
  });
  const header = ["figure", "certflow", "baseline", "ratio certflow/baseline"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ");
  console.log(`\nSummary (BENCH_SCALE=${SCALE}, ${os.cpus().length} cores, node ${process.version})`);
  console.log(line(header));
  console.log(line(widths.map((width) => "-".repeat(width))));
  for (const row of rows) console.log(line(row));
}

export function writeResults(figures: readonly Figure[], extra: Record<string, unknown>): string {
  const directory = fileURLToPath(new URL("../results", import.meta.url));
  mkdirSync(directory, { recursive: true });
  const path = `${directory}/latest.json`;
  const document = {
    finishedAt: new Date().toISOString(),
    scale: SCALE,
    rounds: ROUNDS,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
    ...extra,
    figures,
  };
  writeFileSync(path, `${JSON.stringify(document, null, 2)}\n`);
  return path;
}
