import createClient from "openapi-fetch";
import type { components, paths } from "../../clients/typescript/src/schema";

export type Schemas = components["schemas"];
export type Api = ReturnType<typeof createClient<paths>>;

const TOKEN_KEY = "certflow.adminToken";

export const storedToken = () => sessionStorage.getItem(TOKEN_KEY) ?? "";
export const storeToken = (token: string) => (token ? sessionStorage.setItem(TOKEN_KEY, token) : sessionStorage.removeItem(TOKEN_KEY));

export function apiFor(token: string): Api {
  return createClient<paths>({ baseUrl: location.origin, headers: { authorization: `Bearer ${token}` } });
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The data of a call, or an ApiError with the problem's detail and request id. */
export async function call<T extends { data?: unknown; error?: unknown; response: Response }>(request: Promise<T>): Promise<Exclude<T["data"], undefined>> {
  const { data, error, response } = await request;
  if (!response.ok) {
    const problem = error as { code?: string; detail?: string; requestId?: string } | undefined;
    throw new ApiError(response.status, `${response.status} ${problem?.code ?? ""}: ${problem?.detail ?? response.statusText} ${problem?.requestId ? `(request ${problem.requestId})` : ""}`);
  }
  return data as Exclude<T["data"], undefined>;
}

/**
 * Endpoints other branches add later (registry commands, cluster ownership): fetched without the
 * generated types; `undefined` when this server answers 404, so their panel stays hidden.
 */
export async function optional<T>(token: string, path: string): Promise<T | undefined> {
  const response = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new ApiError(response.status, `${response.status} on ${path}`);
  return (await response.json()) as T;
}
