import type { Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { createBaseApp } from "../core/http/app.js";
import type { App } from "../core/http/env.js";
import type { Logger } from "../core/logger.js";
import { createMetrics, type Metrics } from "../core/metrics.js";
import { RegistryEmulator } from "../core/registry/emulator.js";
import type { Faults } from "../core/registry/faults.js";
import { controlRouter, wireRouter, type EmulatorCredentials } from "./router.js";

export interface EmulatorServerOptions extends EmulatorCredentials {
  /** Wire port (0: a free one). The control API is served here too, while the wire is reachable. */
  port: number;
  host: string;
  /** A second port serving only the control API, reachable whatever the faults (0: a free one; unset: none). */
  controlPort?: number;
  faults: Faults;
  logger: Logger;
  metrics?: Metrics;
  maxBodyBytes?: number;
}

export interface RunningEmulatorServer {
  /** Wire base URL, e.g. http://127.0.0.1:8090 */
  url: string;
  port: number;
  /** Control-only base URL, when a control port was asked for. */
  controlUrl?: string;
  emulator: RegistryEmulator;
  stop(): Promise<void>;
}

/**
 * Runs an emulated registry over HTTP. `unavailable: refuse` closes the wire listener (new
 * connections get ECONNREFUSED; open ones are reset or closed after their answer) and reopens it on
 * the same port when the knob is cleared.
 */
export async function startEmulatorServer(options: EmulatorServerOptions): Promise<RunningEmulatorServer> {
  const emulator = new RegistryEmulator(options.faults);
  const metrics = options.metrics ?? createMetrics();
  const base = { logger: options.logger, metrics, maxBodyBytes: options.maxBodyBytes ?? 64 * 1024 * 1024 };

  const wireApp = createBaseApp(base);
  wireApp.route("/", wireRouter(emulator, options));
  wireApp.route("/", controlRouter(emulator, options));
  const wire = new ManagedListener(wireApp, options.host, options.logger);
  await wire.open(options.port);

  let control: ManagedListener | undefined;
  if (options.controlPort !== undefined) {
    const controlApp = createBaseApp(base);
    controlApp.route("/", controlRouter(emulator, options));
    control = new ManagedListener(controlApp, options.host, options.logger);
    await control.open(options.controlPort);
  }

  const unsubscribe = emulator.onFaultsChange((faults) => wire.setRefusing(faults.unavailable === "refuse"));
  if (options.faults.unavailable === "refuse") wire.setRefusing(true);
  options.logger.info(
    { port: wire.port, controlPort: control?.port, faults: options.faults },
    "registry emulator started (in memory: a restart forgets everything)",
  );

  return {
    url: `http://127.0.0.1:${wire.port}`,
    port: wire.port,
    ...(control ? { controlUrl: `http://127.0.0.1:${control.port}` } : {}),
    emulator,
    async stop() {
      unsubscribe();
      emulator.close();
      await Promise.all([wire.close(), control?.close()]);
    },
  };
}

/** One HTTP listener that can stop accepting connections and start again on the same port. */
class ManagedListener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  private stopped = false;
  port = 0;

  constructor(app: App, private readonly host: string, private readonly logger: Logger) {
    this.server = createAdaptorServer({ fetch: app.fetch }) as Server;
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    // A connection still open when the registry went down carries its current answer, then closes.
    this.server.on("request", (request, response) => {
      response.once("finish", () => {
        if (this.refusing) request.socket.end();
      });
    });
  }

  async open(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error) => reject(error);
      this.server.once("error", failed);
      this.server.listen(port, this.host, () => {
        this.server.off("error", failed);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  setRefusing(refusing: boolean): void {
    if (refusing === this.refusing || this.stopped) return;
    this.refusing = refusing;
    if (refusing) {
      this.server.close();
      this.server.closeIdleConnections();
      this.logger.info({ port: this.port }, "registry emulator refuses connections");
    } else {
      void this.reopen();
    }
  }

  private async reopen(): Promise<void> {
    for (let attempt = 1; !this.refusing && !this.stopped && !this.server.listening; attempt++) {
      try {
        await this.open(this.port);
        this.logger.info({ port: this.port }, "registry emulator accepts connections again");
      } catch (error) {
        if (attempt % 50 === 1) this.logger.warn({ err: error, port: this.port }, "registry emulator cannot listen again yet; retrying");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    const closed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
