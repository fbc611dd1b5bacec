import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";

export interface WebhookRequest {
  url: URL;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export type WebhookResult =
  | { kind: "response"; status: number; retryAfter: string | undefined; latencyMs: number; excerpt: string }
  | { kind: "error"; error: string; latencyMs: number };

/** Sends one webhook request. */
export interface WebhookClient {
  post(request: WebhookRequest): Promise<WebhookResult>;
  close(): void;
}

export interface NodeWebhookClientOptions {
  maxSockets: number;
  maxResponseBytes: number;
  lookup: LookupFunction;
}

const EXCERPT_BYTES = 512;

/**
 * node:http with keep-alive agents, so connections to an endpoint are reused. One client per
 * subscription: its sockets, and its slow endpoint, are its own.
 */
export class NodeWebhookClient implements WebhookClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly options: NodeWebhookClientOptions) {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, lookup: options.lookup };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
  }

  post(request: WebhookRequest): Promise<WebhookResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const secure = request.url.protocol === "https:";
    return new Promise((resolve) => {
      const outgoing = (secure ? https : http).request(request.url, {
        method: "POST",
        agent: secure ? this.httpsAgent : this.httpAgent,
        headers: { ...request.headers, "content-length": Buffer.byteLength(request.body) },
      });
      const timer = setTimeout(
        () => outgoing.destroy(new Error(`no response within ${request.timeoutMs / 1000} s`)),
        request.timeoutMs,
      );
      outgoing.on("error", (error: Error & { code?: string }) => {
        clearTimeout(timer);
        resolve({ kind: "error", error: describe(error), latencyMs: elapsed() });
      });
      outgoing.on("response", (response) => {
        const chunks: Buffer[] = [];
        let received = 0;
        response.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received <= EXCERPT_BYTES) chunks.push(chunk);
          // Bodies are capped: past the limit the connection is dropped rather than read on.
          if (received > this.options.maxResponseBytes) response.destroy();
        });
        const finish = () => {
          clearTimeout(timer);
          resolve({
            kind: "response",
            status: response.statusCode ?? 0,
            retryAfter: header(response.headers["retry-after"]),
            latencyMs: elapsed(),
            excerpt: Buffer.concat(chunks).toString("utf8").slice(0, EXCERPT_BYTES),
          });
        };
        response.on("end", finish);
        response.on("close", finish);
        response.on("error", finish);
      });
      outgoing.end(request.body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function describe(error: Error & { code?: string }): string {
  if (error.code === "EBLOCKED") return `refused: ${error.message}`;
  return error.code ? `${error.code}: ${error.message}` : error.message;
}
