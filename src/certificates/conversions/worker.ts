import { convert, parseCsv, type ConvertTask, type ParseCsvTask } from "./compute.js";

export type WorkerTask = ConvertTask | ParseCsvTask;

/**
 * Piscina worker: the CPU-bound parts of a conversion (apportionment, CSV parsing), off the
 * HTTP thread. Pure: no I/O, so a thread can be killed or replaced at any time.
 */
export default function run(task: WorkerTask) {
  if (task.op === "convert") return convert(task);
  return parseCsv(task);
}
