import type { components } from "./schema.js";

export type Problem = components["schemas"]["Problem"];
export type ErrorCode = Problem["code"];

/** A refusal by the API (an RFC 9457 problem), with its `code` and the `requestId` to quote in a report. */
export class CertflowError extends Error {
  override readonly name = "CertflowError";

  constructor(
    readonly status: number,
    readonly code: ErrorCode | "unexpected_response",
    readonly requestId: string | undefined,
    readonly detail: string,
    readonly errors: Problem["errors"] = undefined,
  ) {
    super(`${status} ${code}: ${detail}${requestId ? ` (request ${requestId})` : ""}`);
  }

  static async from(response: Response, body?: unknown): Promise<CertflowError> {
    const problem = (body ?? (await response.clone().json().catch(() => undefined))) as Partial<Problem> | undefined;
    const requestId = problem?.requestId ?? response.headers.get("x-request-id") ?? undefined;
    if (problem && typeof problem.code === "string") {
      return new CertflowError(response.status, problem.code, requestId, problem.detail ?? response.statusText, problem.errors);
    }
    return new CertflowError(response.status, "unexpected_response", requestId, `${response.statusText || "no problem document"}`);
  }
}

/** The server could not be reached at all (refused, DNS, timeout). */
export class CertflowUnreachableError extends Error {
  override readonly name = "CertflowUnreachableError";

  constructor(
    readonly url: string,
    override readonly cause: unknown,
  ) {
    super(`cannot reach certflow at ${url}: ${(cause as Error)?.message ?? String(cause)}`);
  }
}
