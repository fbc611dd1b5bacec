import http from "node:http";
import https from "node:https";
import {
  CertificateTransactionsSchema,
  REGISTRY_RECEIVED_HEADER,
  TransactionStatusSchema,
  type CertificateTransactions,
  type TransactionStatus,
} from "../../core/registry/wire.js";
import { RegistryUnreachable, type CertificateRegistry, type SubmitOutcome } from "../../core/registry/port.js";

export interface HttpRegistryOptions {
  url: string;
  token?: string | undefined;
  timeoutMs: number;
  /** Connections kept open to the registry (the connector asks statuses this many at a time). */
  maxSockets?: number | undefined;
}

interface RegistryResponse {
  status: number;
  header(name: string): string | undefined;
  text: string;
}

/** Error codes that prove the request never reached the registry. */
const NOT_RECEIVED_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** The registry's HTTP wire contract (DESIGN.md §8), with every send classified by what it proves. */
export class HttpRegistry implements CertificateRegistry {
  readonly description: string;
  private readonly base: string;

  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly options: HttpRegistryOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.description = this.base;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
  }

  async submit(transactions: ReadonlyArray<{ bytes: string }>): Promise<SubmitOutcome> {
    let response: RegistryResponse;
    try {
      response = await this.request("POST", "/v1/transactions", JSON.stringify({ transactions: transactions.map((transaction) => ({ bytes: transaction.bytes })) }));
    } catch (error) {
      return classifyTransportError(error);
    }
    return classifyResponse(response.status, response.header(REGISTRY_RECEIVED_HEADER) ?? null, response.text);
  }

  async status(txId: string): Promise<TransactionStatus> {
    const response = await this.get(`/v1/transactions/${encodeURIComponent(txId)}/status`);
    if (response.status !== 200) throw new RegistryUnreachable(`status of ${txId}: HTTP ${response.status}`);
    const parsed = TransactionStatusSchema.safeParse(parseJson(response.text));
    if (!parsed.success) throw new RegistryUnreachable(`status of ${txId}: not a status document`);
    return parsed.data;
  }

  async certificateTransactions(certificateId: string): Promise<CertificateTransactions | "unsupported"> {
    const response = await this.get(`/v1/certificates/${encodeURIComponent(certificateId)}/transactions`);
    if (response.status === 501) return "unsupported";
    if (response.status !== 200) throw new RegistryUnreachable(`transactions of ${certificateId}: HTTP ${response.status}`);
    const parsed = CertificateTransactionsSchema.safeParse(parseJson(response.text));
    if (!parsed.success) throw new RegistryUnreachable(`transactions of ${certificateId}: not a transaction list`);
    return parsed.data;
  }

  private async get(path: string): Promise<RegistryResponse> {
    try {
      return await this.request("GET", path);
    } catch (error) {
      throw new RegistryUnreachable(describe(error));
    }
  }

  /**
   * One request over node:http (a status poll costs a fraction of what fetch costs, and the
   * connector asks by the thousand). Reads reuse keep-alive connections. A send never does: a
   * connection the registry (or a proxy) closed while idle resets a request written on it, which
   * makes the send ambiguous although the registry never read it; on a fresh connection, a
   * registry that is down refuses the connect, which proves it. Rejects with the transport's error,
   * its `code` intact, or a TimeoutError.
   */
  private request(method: "GET" | "POST", path: string, body?: string): Promise<RegistryResponse> {
    const url = new URL(this.base + path);
    const secure = url.protocol === "https:";
    const headers: Record<string, string | number> = { ...this.headers() };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = Buffer.byteLength(body);
    }
    return new Promise((resolve, reject) => {
      const agent = method === "POST" ? false : secure ? this.httpsAgent : this.httpAgent;
      const outgoing = (secure ? https : http).request(url, { method, headers, agent });
      const timer = setTimeout(() => outgoing.destroy(Object.assign(new Error(`no answer within ${this.options.timeoutMs} ms`), { name: "TimeoutError" })), this.options.timeoutMs);
      outgoing.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      outgoing.on("response", (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
        response.on("end", () => {
          clearTimeout(timer);
          const value = (name: string) => {
            const raw = response.headers[name.toLowerCase()];
            return Array.isArray(raw) ? raw[0] : raw;
          };
          resolve({ status: response.statusCode ?? 0, header: value, text: Buffer.concat(chunks).toString("utf8") });
        });
      });
      outgoing.end(body);
    });
  }

  private headers(): Record<string, string> {
    return this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function classifyResponse(status: number, receivedHeader: string | null, body: string): SubmitOutcome {
  if (status === 202 || status === 200) return { kind: "received" };
  if (status === 503 && receivedHeader?.trim().toLowerCase() === "false") return { kind: "not_received", reason: "503 with Registry-Received: false" };
  if (status >= 500) return { kind: "ambiguous", reason: `HTTP ${status}` };
  return { kind: "rejected", reason: `HTTP ${status}: ${body.slice(0, 300)}` };
}

export function classifyTransportError(error: unknown): SubmitOutcome {
  const code = errorCode(error);
  if (code && NOT_RECEIVED_CODES.has(code)) return { kind: "not_received", reason: code };
  return { kind: "ambiguous", reason: describe(error) };
}

function errorCode(error: unknown): string | undefined {
  for (let current = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === "string") return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}

function describe(error: unknown): string {
  const code = errorCode(error);
  const name = (error as Error)?.name;
  if (name === "TimeoutError" || name === "AbortError") return "timeout";
  return code ?? (error as Error)?.message ?? String(error);
}
