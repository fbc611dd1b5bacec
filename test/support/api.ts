export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  token?: string | undefined;
  body?: unknown;
  /** Sent as-is, without JSON encoding (for malformed-body tests). */
  rawBody?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A thin HTTP client for tests: JSON in, parsed JSON (or text) out, never throws on a status. */
export class Api {
  constructor(readonly url: string) {}

  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await fetch(this.url + path, { method, headers, body, signal: options.signal });
    const text = await response.text();
    let parsed: unknown = text;
    if (/json/.test(response.headers.get("content-type") ?? "") && text.length > 0) parsed = JSON.parse(text);
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  get<T = any>(path: string, token?: string, options: RequestOptions = {}) {
    return this.request<T>("GET", path, { ...options, token });
  }

  post<T = any>(path: string, body: unknown, token?: string, options: RequestOptions = {}) {
    return this.request<T>("POST", path, { ...options, body, token });
  }

  patch<T = any>(path: string, body: unknown, token?: string) {
    return this.request<T>("PATCH", path, { body, token });
  }

  delete<T = any>(path: string, token?: string) {
    return this.request<T>("DELETE", path, { token });
  }
}
