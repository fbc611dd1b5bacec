import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { EmbeddedRegistry } from "../../src/certificates/registry/embedded-registry.js";
import { REGISTRY_RECEIVED_HEADER, SubmitTransactionsSchema } from "../../src/core/registry/wire.js";

/**
 * The embedded registry served over HTTP with the wire contract of DESIGN.md §8, so a certflow
 * child process (killed in tests) talks to a registry that outlives it. A send the embedded
 * registry reports as not received answers 503 `Registry-Received: false`; an ambiguous one
 * (response lost) destroys the socket.
 */
export async function serveRegistry(registry = new EmbeddedRegistry()): Promise<{ url: string; registry: EmbeddedRegistry; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      void (async () => {
        const url = new URL(request.url ?? "/", "http://registry");
        const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
          response.writeHead(status, { "content-type": "application/json", ...headers });
          response.end(JSON.stringify(body));
        };
        if (request.method === "POST" && url.pathname === "/v1/transactions") {
          const parsed = SubmitTransactionsSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString("utf8") || "null"));
          if (!parsed.success) return send(400, { error: parsed.error.issues[0]?.message });
          const outcome = await registry.submit(parsed.data.transactions);
          if (outcome.kind === "received") return send(202, {});
          if (outcome.kind === "not_received") return send(503, { error: outcome.reason }, { [REGISTRY_RECEIVED_HEADER]: "false" });
          request.socket.destroy();
          return;
        }
        const status = /^\/v1\/transactions\/([^/]+)\/status$/.exec(url.pathname);
        if (request.method === "GET" && status) {
          try {
            return send(200, await registry.status(decodeURIComponent(status[1]!)));
          } catch {
            return send(503, { error: "unavailable" });
          }
        }
        const stream = /^\/v1\/certificates\/([^/]+)\/transactions$/.exec(url.pathname);
        if (request.method === "GET" && stream) {
          const transactions = await registry.certificateTransactions(decodeURIComponent(stream[1]!));
          return transactions === "unsupported" ? send(501, { error: "not offered" }) : send(200, transactions);
        }
        send(404, { error: "not found" });
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    registry,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
