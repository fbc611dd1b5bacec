import { z } from "@hono/zod-openapi";
import { AppError, ERROR_STATUS } from "../errors.js";

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().openapi({ description: "What is wrong, naming the field when there is one" }),
    code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS]),
    requestId: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

const DESCRIPTIONS: Record<number, string> = {
  400: "Invalid request: `detail` and `errors` name the field",
  401: "Missing or unknown token",
  403: "The token does not allow this",
  404: "Not found",
  409: "Conflicts with the current state",
  410: "Past retention: the record was removed",
  413: "Body too large",
  415: "Body is not JSON",
  422: "Valid, but cannot be carried out",
  501: "Not offered by this server",
  503: "A dependency (NATS or PostgreSQL) is unavailable",
};

/** Problem responses for a route's OpenAPI definition; 400, 401 and 403 apply to every /v1 route. */
export function problems(...statuses: number[]) {
  const all = [...new Set([400, 401, 403, ...statuses])];
  return Object.fromEntries(
    all.map((status) => [
      status,
      { description: DESCRIPTIONS[status] ?? "Error", content: { "application/problem+json": { schema: ProblemSchema } } },
    ]),
  );
}

export const bearer = [{ bearer: [] }];

/** Whether retention removed part of what this answer would show (CERTFLOW_RETENTION_*). */
export const PastRetentionSchema = z
  .object({
    truncated: z.boolean().openapi({ description: "true when records this answer would include were removed by retention" }),
    removedBefore: z.string().nullable().openapi({ description: "Records older than this may have been removed; null if retention never removed any" }),
  })
  .openapi("PastRetention");

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

/** Cursor pagination query parameters shared by list endpoints. */
export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50).openapi({ description: "Page size, 1-500" }),
  cursor: z.string().max(512).optional().openapi({ description: "`nextCursor` of the previous page" }),
});

/**
 * A page from rows fetched one past the limit (so we know whether another page follows); the
 * cursor names the last row shown.
 */
export function pageOf<T>(rows: readonly T[], limit: number, cursorOf: (last: T) => unknown): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, schema: T): z.infer<T> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to the error below
  }
  throw new AppError("validation_failed", "cursor: not a cursor this API returned; start again without it", [
    { path: "cursor", message: "not a cursor this API returned" },
  ]);
}
