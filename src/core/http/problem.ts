import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ZodError } from "zod";
import { AppError, toProblem, validationError, type ErrorCode } from "../errors.js";
import { isUnavailableError } from "../outage.js";
import type { AppEnv } from "./env.js";

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: "validation_failed",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "unprocessable",
  503: "unavailable",
};

/** Seconds a client is told to wait before retrying a 503: about how long a reconnect takes. */
export const RETRY_AFTER_SECONDS = 1;

/** Every error a handler or middleware throws becomes an AppError here. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof ZodError) return validationError(error);
  if (isUnavailableError(error)) {
    return new AppError("unavailable", "the database or the broker cannot be reached right now; retry after the Retry-After seconds");
  }
  if (error instanceof HTTPException) {
    if (error.status === 400 && /JSON/i.test(error.message)) {
      return new AppError("invalid_json", "the body is not valid JSON: check quoting and commas");
    }
    if (error.status === 415) {
      return new AppError("unsupported_media_type", "send the body as JSON with Content-Type: application/json");
    }
    const code = CODE_BY_STATUS[error.status];
    if (code) return new AppError(code, error.message || code);
  }
  return new AppError("internal", "an unexpected error occurred; it was logged with this request id");
}

export function problemResponse(c: Context<AppEnv>, error: AppError): Response {
  const body = toProblem(error, c.get("requestId") ?? "unknown");
  const headers: Record<string, string> = { "content-type": "application/problem+json" };
  if (error.code === "unavailable") headers["retry-after"] = String(RETRY_AFTER_SECONDS);
  return c.body(JSON.stringify(body), error.status as 400, headers);
}
