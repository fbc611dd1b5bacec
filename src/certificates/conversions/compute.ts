import { apportion } from "./apportion.js";
import { parseCsvProfile, type CsvProfile, type EnergyUnit } from "./csv-profile.js";

/**
 * The CPU-bound part of a conversion, as pure functions of plain data: the worker pool runs
 * them off the HTTP thread, and the benchmark runs the same code on one thread to compare.
 */
export interface ConvertTask {
  op: "convert";
  quantityWh: number;
  hours: number;
  /** One weight (Wh) per hour; null for a uniform profile. */
  weightsWh: ArrayLike<number> | null;
}

export interface ConvertResult {
  /** Hourly quantities, whole Wh, summing to the annual quantity exactly. */
  quantitiesWh: Float64Array;
  totalWh: number;
  zeroHours: number;
  maxHourWh: number;
}

export interface ParseCsvTask {
  op: "parse-csv";
  text: string;
  year: number;
  unit?: EnergyUnit | undefined;
}

export function convert(task: Omit<ConvertTask, "op">): ConvertResult {
  const weights = task.weightsWh ?? new Float64Array(task.hours).fill(1);
  if (weights.length !== task.hours) throw new RangeError(`expected ${task.hours} weights, got ${weights.length}`);
  const quantitiesWh = apportion(task.quantityWh, weights);
  let totalWh = 0;
  let zeroHours = 0;
  let maxHourWh = 0;
  for (let hour = 0; hour < task.hours; hour++) {
    const quantity = quantitiesWh[hour]!;
    totalWh += quantity;
    if (quantity === 0) zeroHours++;
    if (quantity > maxHourWh) maxHourWh = quantity;
  }
  // A conversion that does not conserve energy exactly must never reach the registry.
  if (totalWh !== task.quantityWh) throw new Error(`apportionment lost energy: ${totalWh} Wh of ${task.quantityWh} Wh`);
  return { quantitiesWh, totalWh, zeroHours, maxHourWh };
}

export function parseCsv(task: Omit<ParseCsvTask, "op">): CsvProfile {
  return parseCsvProfile(task.text, { year: task.year, unit: task.unit });
}
