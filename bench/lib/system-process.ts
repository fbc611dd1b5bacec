import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { naming } from "../../src/mom/naming.js";
import { deferCleanup, deleteStreams, dropSchema } from "./cleanup.js";
import { ADMIN_TOKEN, CERTFLOW_DIR, CPU_PROF_DIR, DATABASE_URL, NATS_URL, ROOT } from "./env.js";

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** Stops with SIGTERM (SIGKILL after `graceMs`) and resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface NodeProcessOptions {
  /** Shown before every line the process writes. */
  label: string;
  /** Script path relative to `cwd`, run with `node --import tsx`. */
  script: string;
  /** Working directory; the repository root when absent. */
  cwd?: string;
  env: Record<string, string>;
  /** GET path answering 200 once the process serves requests. */
  readyPath: string;
  nodeArgs?: string[];
  /** Name of the environment variable that carries the port. */
  portVariable?: string;
  timeoutMs?: number;
}

/** A port that was free a moment ago: the child binds it itself, so readiness is a plain poll. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Spawns a TypeScript entry point as its own process and waits until `readyPath` answers 200. */
export async function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), "--import", "tsx", options.script], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env, [options.portVariable ?? "PORT"]: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tail: string[] = [];
  const echo = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    console.log(`    [${options.label}] ${line.length > 300 ? `${line.slice(0, 300)}…` : line}`);
  };
  createInterface({ input: child.stdout! }).on("line", echo);
  createInterface({ input: child.stderr! }).on("line", echo);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve();
    }),
  );

  const stop = async (graceMs = 15_000) => {
    if (exitCode !== undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const undo = deferCleanup(() => stop());
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (exitCode !== undefined) {
      await undo();
      throw new Error(`${options.label} exited with ${exitCode} before it was ready:\n${tail.join("\n")}`);
    }
    if (await answers200(url + options.readyPath)) break;
    if (Date.now() > deadline) {
      await undo();
      throw new Error(`${options.label} was not ready within ${options.timeoutMs ?? 60_000} ms:\n${tail.join("\n")}`);
    }
    await sleep(100);
  }
  return { child, url, port, stop: (graceMs) => stop(graceMs).then(() => undo()) };
}

async function answers200(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** `src/registry-emulator/main.ts` in a process of its own, at 0 accept and commit latency (knobs change over its control API). */
export function startRegistryEmulatorProcess(): Promise<NodeProcess> {
  return startNodeProcess({
    label: "registry-emulator",
    script: "src/registry-emulator/main.ts",
    readyPath: "/healthz",
    portVariable: "CERTFLOW_EMULATOR_PORT",
    env: {
      CERTFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: "warn",
      CERTFLOW_EMULATOR_ACCEPT_LATENCY_MS: "0",
      CERTFLOW_EMULATOR_COMMIT_LATENCY_MS: "0",
      CERTFLOW_EMULATOR_FINALIZE_INTERVAL_MS: "0",
    },
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface CertflowProcess extends NodeProcess {
  id: string;
  /** The notifications stream of this system's namespace. */
  stream: string;
  namespace: string;
  /** Stops the process, then drops its schema and deletes its stream. */
  destroy(): Promise<void>;
}

export interface CertflowOptions {
  /** Schema and NATS namespace. */
  id: string;
  /** SERVICES; every service when absent (what `npm start` runs). */
  services?: string;
  env?: Record<string, string>;
  /** Written under CPU_PROF_DIR when BENCH_CPU_PROF is set. */
  profileName?: string;
}

/**
 * Runs `src/main.ts` as its own process, with its own schema and NATS namespace, at LOG_LEVEL=warn
 * (info logs a line per request, which would be measured too). Readiness is a poll of /readyz
 * on a port picked here; background services start right after the server listens, and the
 * dispatcher reads from its stored position, so nothing published meanwhile is missed.
 */
/** The services a notification passes through from accept to ack: what the end-to-end and latency figures run. */
export const PATH_SERVICES = "producer,dispatcher,consumer";

export async function startCertflow(options: CertflowOptions): Promise<CertflowProcess> {
  const names = naming(options.id);
  const cleanupData = deferCleanup(async () => {
    await dropSchema(options.id);
    await deleteStreams(names.notificationsStream);
  });
  // The young generation `npm start` gives the process (package.json), so the bench measures what a user runs.
  const nodeArgs: string[] = ["--max-semi-space-size=64"];
  if (CPU_PROF_DIR && options.profileName) {
    // One directory per system: node writes a profile per thread (the main one is the largest;
    // tsx's module loader runs in a second thread).
    const directory = `${CPU_PROF_DIR}/${options.profileName}`;
    rmSync(directory, { recursive: true, force: true });
    mkdirSync(directory, { recursive: true });
    nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${directory}`);
  }
  let started: NodeProcess;
  try {
    started = await startNodeProcess({
      label: "certflow",
      script: "src/main.ts",
      cwd: CERTFLOW_DIR,
      readyPath: "/readyz",
      nodeArgs,
      env: {
        CERTFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
        DATABASE_URL,
        DATABASE_SCHEMA: options.id,
        NATS_URL,
        CERTFLOW_NAMESPACE: options.id,
        HOST: "127.0.0.1",
        LOG_LEVEL: "warn",
        ...(options.services ? { SERVICES: options.services } : {}),
        ...options.env,
      },
    });
  } catch (error) {
    await cleanupData();
    throw error;
  }
  return {
    ...started,
    id: options.id,
    namespace: options.id,
    stream: names.notificationsStream,
    async destroy() {
      try {
        await started.stop();
      } finally {
        await cleanupData();
      }
    },
  };
}
