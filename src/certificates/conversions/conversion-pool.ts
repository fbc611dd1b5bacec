import { existsSync } from "node:fs";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { AppError } from "../../core/errors.js";
import type { ConvertResult, ConvertTask, ParseCsvTask } from "./compute.js";
import type { CsvProfile } from "./csv-profile.js";
import type { WorkerTask } from "./worker.js";

/** How much lower the worker threads' CPU priority is than the HTTP thread's. */
const WORKER_NICE = 10;

export interface ConversionPoolOptions {
  /** Worker threads: the machine's parallelism by default (config.conversions.workers). */
  workers: number;
  /** Tasks that may wait for a thread (config.conversions.queue). */
  queue: number;
}

/**
 * The worker file next to this one, with this file's extension: `.ts` under tsx and vitest,
 * `.js` from the compiled dist. Worker threads get tsx's loader only when they need it.
 */
export function workerFile(): { url: URL; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  const extension = extname(self);
  const url = new URL(`./worker${extension}`, import.meta.url);
  return { url, execArgv: extension === ".ts" ? ["--import", "tsx"] : [] };
}

/**
 * The piscina pool conversions compute on, so the HTTP thread stays free: apportionment and CSV
 * parsing. Threads start on first use.
 */
export class ConversionPool {
  private pool: Piscina | undefined;
  private readonly worker = workerFile();

  constructor(private readonly options: ConversionPoolOptions) {
    if (!existsSync(fileURLToPath(this.worker.url))) throw new Error(`conversion worker not found at ${this.worker.url.href}`);
  }

  get workers(): number {
    return this.options.workers;
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.pool?.queueSize ?? 0;
  }

  convert(task: Omit<ConvertTask, "op">): Promise<ConvertResult> {
    // A typed array crosses to the thread as one block copy; a plain array is cloned value by value.
    const weightsWh = task.weightsWh === null || task.weightsWh instanceof Float64Array ? task.weightsWh : Float64Array.from(task.weightsWh);
    return this.run({ op: "convert", ...task, weightsWh }) as Promise<ConvertResult>;
  }

  parseCsv(task: Omit<ParseCsvTask, "op">): Promise<CsvProfile> {
    return this.run({ op: "parse-csv", ...task }) as Promise<CsvProfile>;
  }

  private async run(task: WorkerTask): Promise<unknown> {
    this.pool ??= new Piscina({
      filename: this.worker.url.href,
      execArgv: this.worker.execArgv,
      minThreads: 0,
      maxThreads: this.options.workers,
      maxQueue: this.options.queue,
      idleTimeout: 60_000,
      // Background work yields the CPU to the HTTP thread (Linux: per-thread nice, via @napi-rs/nice).
      niceIncrement: WORKER_NICE,
    });
    try {
      return await this.pool.run(task);
    } catch (error) {
      if (/queue is at limit/i.test((error as Error).message)) {
        throw new AppError("unavailable", `the conversion pool is busy (${this.options.queue} tasks waiting); retry shortly`);
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close({ force: true });
  }
}
