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
}

/** Error codes that prove the request never reached the registry. */
const NOT_RECEIVED_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** The registry's HTTP wire contract (DESIGN.md §8), with every send classified by what it proves. */
export class HttpRegistry implements CertificateRegistry {
  readonly description: string;
  private readonly base: string;

  constructor(private readonly options: HttpRegistryOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.description = this.base;
  }

  async submit(transactions: ReadonlyArray<{ bytes: string }>): Promise<SubmitOutcome> {
    let response: Response;
    try {
      response = await fetch(`${this.base}/v1/transactions`, {
        method: "POST",
        headers: { ...this.headers(), "content-type": "application/json" },
        body: JSON.stringify({ transactions: transactions.map((transaction) => ({ bytes: transaction.bytes })) }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      return classifyTransportError(error);
    }
    const text = await response.text().catch(() => "");
    return classifyResponse(response.status, response.headers.get(REGISTRY_RECEIVED_HEADER), text);
  }

  async status(txId: string): Promise<TransactionStatus> {
    const response = await this.get(`/v1/transactions/${encodeURIComponent(txId)}/status`);
    if (response.status !== 200) throw new RegistryUnreachable(`status of ${txId}: HTTP ${response.status}`);
    const parsed = TransactionStatusSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new RegistryUnreachable(`status of ${txId}: not a status document`);
    return parsed.data;
  }

  async certificateTransactions(certificateId: string): Promise<CertificateTransactions | "unsupported"> {
    const response = await this.get(`/v1/certificates/${encodeURIComponent(certificateId)}/transactions`);
    if (response.status === 501) return "unsupported";
    if (response.status !== 200) throw new RegistryUnreachable(`transactions of ${certificateId}: HTTP ${response.status}`);
    const parsed = CertificateTransactionsSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new RegistryUnreachable(`transactions of ${certificateId}: not a transaction list`);
    return parsed.data;
  }

  private async get(path: string): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, { headers: this.headers(), signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (error) {
      throw new RegistryUnreachable(describe(error));
    }
  }

  private headers(): Record<string, string> {
    return this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
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
