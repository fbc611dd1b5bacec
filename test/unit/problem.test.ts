import { HTTPException } from "hono/http-exception";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  AppError,
  describeFieldErrors,
  ERROR_STATUS,
  fieldPath,
  toProblem,
  validationError,
  type ErrorCode,
} from "../../src/core/errors.js";
import { toAppError } from "../../src/core/http/problem.js";
import { NotificationInputSchema } from "../../src/core/notifications/envelope.js";

function zodErrorOf(schema: z.ZodType, value: unknown): z.ZodError {
  const result = schema.safeParse(value);
  if (result.success) throw new Error("expected the value to be refused");
  return result.error;
}

describe("AppError", () => {
  it.each(Object.entries(ERROR_STATUS))("gives code %s the HTTP status %i", (code, status) => {
    expect(new AppError(code as ErrorCode, "m").status).toBe(status);
  });

  it("is an Error with its message and no field errors by default", () => {
    const error = new AppError("conflict", "already exists");
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("AppError");
    expect(error.message).toBe("already exists");
    expect(error.errors).toEqual([]);
  });
});

describe("fieldPath / describeFieldErrors", () => {
  it("joins path segments with dots", () => {
    expect(fieldPath(["notifications", 3, "type"])).toBe("notifications.3.type");
  });

  it("names the body for an empty path", () => {
    expect(fieldPath([])).toBe("(body)");
  });

  it("puts a prefix in front, or uses it alone for an empty path", () => {
    expect(fieldPath(["type"], "notifications.2")).toBe("notifications.2.type");
    expect(fieldPath([], "notifications.2")).toBe("notifications.2");
  });

  it("describes the first field error and counts the others", () => {
    expect(describeFieldErrors([])).toBe("invalid request");
    expect(describeFieldErrors([{ path: "a", message: "bad" }])).toBe("a: bad");
    expect(
      describeFieldErrors([
        { path: "a", message: "bad" },
        { path: "b", message: "worse" },
        { path: "c", message: "worst" },
      ]),
    ).toBe("a: bad (and 2 more)");
  });
});

describe("validationError", () => {
  it("turns each zod issue into a dotted field error", () => {
    const error = validationError(zodErrorOf(z.object({ a: z.object({ b: z.number() }) }), { a: { b: "x" } }));
    expect(error.code).toBe("validation_failed");
    expect(error.errors).toHaveLength(1);
    expect(error.errors[0]!.path).toBe("a.b");
    expect(error.message.startsWith("a.b: ")).toBe(true);
  });

  it("prefixes field paths when asked", () => {
    const error = validationError(zodErrorOf(z.object({ type: z.string() }), {}), "notifications.4");
    expect(error.errors[0]!.path).toBe("notifications.4.type");
  });
});

describe("toAppError", () => {
  it("returns an AppError unchanged", () => {
    const original = new AppError("forbidden", "not yours");
    expect(toAppError(original)).toBe(original);
  });

  it("maps a ZodError to validation_failed with the field path", () => {
    const zodError = zodErrorOf(NotificationInputSchema, {
      type: "certificate.issued",
      subject: "c1",
      data: {
        certificateId: "c1",
        kind: "annual",
        deviceId: "d",
        gridArea: "DK1",
        energySource: "wind",
        periodStart: "2025-01-01T00:00:00Z",
        periodEnd: "2026-01-01T00:00:00Z",
        quantityWh: -1,
        owner: "o",
        status: "active",
        version: 1,
      },
    });
    const error = toAppError(zodError);
    expect(error.code).toBe("validation_failed");
    expect(error.status).toBe(400);
    expect(error.errors).toEqual([{ path: "data.quantityWh", message: "must not be negative" }]);
    expect(error.message).toBe("data.quantityWh: must not be negative");
  });

  it("maps a malformed-JSON HTTPException 400 to invalid_json", () => {
    const error = toAppError(new HTTPException(400, { message: "Malformed JSON in request body" }));
    expect(error.code).toBe("invalid_json");
    expect(error.status).toBe(400);
  });

  it("maps another HTTPException 400 to validation_failed, keeping its message", () => {
    const error = toAppError(new HTTPException(400, { message: "Malformed FormData request." }));
    expect(error.code).toBe("validation_failed");
    expect(error.message).toBe("Malformed FormData request.");
  });

  it("maps an HTTPException 415 to unsupported_media_type", () => {
    const error = toAppError(new HTTPException(415, { message: "whatever" }));
    expect(error.code).toBe("unsupported_media_type");
    expect(error.status).toBe(415);
  });

  it.each<[number, ErrorCode]>([
    [401, "unauthorized"],
    [403, "forbidden"],
    [404, "not_found"],
    [405, "method_not_allowed"],
    [409, "conflict"],
    [413, "payload_too_large"],
    [422, "unprocessable"],
    [503, "unavailable"],
  ])("maps an HTTPException %i to %s", (status, code) => {
    const error = toAppError(new HTTPException(status as 401, { message: "from hono" }));
    expect(error.code).toBe(code);
    expect(error.message).toBe("from hono");
  });

  it("uses the code as message for an HTTPException without one", () => {
    expect(toAppError(new HTTPException(404)).message).toBe("not_found");
  });

  it("maps an HTTPException with an unmapped status to internal", () => {
    expect(toAppError(new HTTPException(502, { message: "bad gateway" })).code).toBe("internal");
  });

  it("maps an unknown Error to internal without leaking its message", () => {
    const error = toAppError(new Error("connection refused to 10.0.0.5:5432"));
    expect(error.code).toBe("internal");
    expect(error.status).toBe(500);
    expect(error.message).not.toContain("10.0.0.5");
  });

  it("maps a thrown non-Error value to internal", () => {
    expect(toAppError("boom").code).toBe("internal");
    expect(toAppError(undefined).code).toBe("internal");
  });
});

describe("toProblem", () => {
  it("has the RFC 9457 fields plus code and requestId", () => {
    expect(toProblem(new AppError("not_found", "subscription x does not exist"), "req-1")).toEqual({
      type: "urn:certflow:problem:not_found",
      title: "Not found",
      status: 404,
      detail: "subscription x does not exist",
      code: "not_found",
      requestId: "req-1",
    });
  });

  it("includes field errors only when there are some", () => {
    const withErrors = toProblem(new AppError("validation_failed", "a: bad", [{ path: "a", message: "bad" }]), "r");
    expect(withErrors.errors).toEqual([{ path: "a", message: "bad" }]);
    expect(withErrors.status).toBe(400);
    expect("errors" in toProblem(new AppError("conflict", "c"), "r")).toBe(false);
  });

  it("gives every error code a title", () => {
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      const problem = toProblem(new AppError(code, "m"), "r");
      expect(problem.title.length).toBeGreaterThan(0);
      expect(problem.type).toBe(`urn:certflow:problem:${code}`);
      expect(problem.status).toBe(ERROR_STATUS[code]);
    }
  });
});
