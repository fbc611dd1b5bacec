import type { z } from "zod";

/** The one error vocabulary: every failure the API reports has one of these codes. */
export const ERROR_STATUS = {
  validation_failed: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  internal: 500,
  not_implemented: 501,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

const TITLES: Record<ErrorCode, string> = {
  validation_failed: "The request is not valid",
  invalid_json: "The body is not valid JSON",
  unauthorized: "Missing or unknown credential",
  forbidden: "The credential does not allow this",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  conflict: "Conflict",
  gone: "Gone",
  payload_too_large: "The body is too large",
  unsupported_media_type: "Unsupported media type",
  unprocessable: "The request cannot be carried out",
  internal: "Internal error",
  not_implemented: "Not offered",
  unavailable: "A dependency is unavailable",
};

export interface FieldError {
  /** Dotted path of the offending field, e.g. `data.quantityWh` or `notifications.3.type`. */
  path: string;
  message: string;
}

export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string) => new AppError("not_found", `${what} does not exist`);
export const conflict = (message: string) => new AppError("conflict", message);
export const forbidden = (message: string) => new AppError("forbidden", message);
export const unprocessable = (message: string) => new AppError("unprocessable", message);

export function fieldPath(path: ReadonlyArray<PropertyKey>, prefix?: string): string {
  const joined = path.map(String).join(".");
  if (!prefix) return joined || "(body)";
  return joined ? `${prefix}.${joined}` : prefix;
}

export function fieldErrorsFromZod(error: z.ZodError, prefix?: string): FieldError[] {
  return error.issues.flatMap((issue) =>
    // An unknown field is named by its own path, so the message points at it.
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: fieldPath([...issue.path, key], prefix), message: "is not a known field" }))
      : [{ path: fieldPath(issue.path, prefix), message: issue.message }],
  );
}

export function describeFieldErrors(errors: FieldError[]): string {
  const [first, ...rest] = errors;
  if (!first) return "invalid request";
  const more = rest.length > 0 ? ` (and ${rest.length} more)` : "";
  return `${first.path}: ${first.message}${more}`;
}

export function validationError(error: z.ZodError, prefix?: string): AppError {
  const errors = fieldErrorsFromZod(error, prefix);
  return new AppError("validation_failed", describeFieldErrors(errors), errors);
}

/** RFC 9457 problem details, with our `code` and the request id. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  requestId: string;
  errors?: FieldError[];
}

export function toProblem(error: AppError, requestId: string): Problem {
  return {
    type: `urn:certflow:problem:${error.code}`,
    title: TITLES[error.code],
    status: error.status,
    detail: error.message,
    code: error.code,
    requestId,
    ...(error.errors.length > 0 ? { errors: error.errors } : {}),
  };
}
