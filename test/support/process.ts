import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** Every log line the process wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Runs `src/main.ts` as its own process (as `npm start` would), and waits until it has started. */
export function startServiceProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    // The start-up line is how we know it is ready, so the process logs at least at info.
    env: { ...process.env, ...env, LOG_LEVEL: env.LOG_LEVEL === "debug" || env.LOG_LEVEL === "trace" ? env.LOG_LEVEL : "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`process did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === "certflow started") {
        clearTimeout(timer);
        const port = entry.port as number;
        resolve({ child, port, url: `http://127.0.0.1:${port}`, logs, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`process exited with ${code} before starting: ${stderr}`));
    });
  });
}

/** Runs `src/main.ts` to completion and returns what it printed (for start-up failures). */
export function runToExit(env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
