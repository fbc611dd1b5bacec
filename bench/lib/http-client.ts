import http from "node:http";

export interface HttpResponse {
  status: number;
  text: string;
}

/**
 * The one HTTP client every HTTP figure uses, for certflow and its baseline alike: node:http
 * over a keep-alive agent with a fixed number of sockets, bodies sent as prepared strings.
 */
export class HttpClient {
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string, connections: number) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  }

  request(method: string, path: string, options: { body?: string; token?: string; timeoutMs?: number } = {}): Promise<HttpResponse> {
    const headers: Record<string, string | number> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = Buffer.byteLength(options.body);
    }
    return new Promise((resolve, reject) => {
      const request = http.request(
        { agent: this.agent, host: this.host, port: this.port, method, path, headers, timeout: options.timeoutMs ?? 60_000 },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          response.on("error", reject);
        },
      );
      request.on("timeout", () => request.destroy(new Error(`${method} ${path} timed out`)));
      request.on("error", reject);
      request.end(options.body);
    });
  }

  /** A request that must answer `expected`; returns the parsed JSON body. */
  async json<T = any>(method: string, path: string, expected: number, options: { body?: unknown; token?: string } = {}): Promise<T> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const response = await this.request(method, path, { body, token: options.token });
    if (response.status !== expected) {
      throw new Error(`${method} ${path} answered ${response.status} (expected ${expected}): ${response.text.slice(0, 500)}`);
    }
    return (response.text ? JSON.parse(response.text) : undefined) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}
