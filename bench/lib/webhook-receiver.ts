import http from "node:http";
import type { AddressInfo } from "node:net";
import { deferCleanup } from "./cleanup.js";

export type WebhookHandler = (webhookId: string, body: string, receivedAt: number) => void;

/**
 * The push benchmark's endpoint: node:http on 127.0.0.1 in the bench process, answering 204 as
 * soon as a request's body has arrived. It verifies nothing (no signature, no JSON parse), so
 * what it costs is what any endpoint must pay to take a request; `onWebhook` sees the
 * `webhook-id` header (the notification id), the raw body and the time (performance.now()).
 */
export class WebhookReceiver {
  onWebhook: WebhookHandler = () => {};
  requests = 0;
  readonly url: string;
  private readonly undo: () => Promise<void>;

  private constructor(server: http.Server) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/hook`;
    this.undo = deferCleanup(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
  }

  static async start(): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const at = performance.now();
        response.writeHead(204);
        response.end();
        receiver!.requests++;
        const id = request.headers["webhook-id"];
        receiver!.onWebhook(typeof id === "string" ? id : "", chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"), at);
      });
    });
    // Keep connections as long as certflow's keep-alive agent may hold them idle between phases.
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    receiver = new WebhookReceiver(server);
    return receiver;
  }

  close(): Promise<void> {
    return this.undo();
  }
}
