import { describe, expect, it } from "vitest";
import { toAppError } from "../../src/core/http/problem.js";
import { createLogger } from "../../src/core/logger.js";
import { isUnavailableError, Outage } from "../../src/core/outage.js";

const withCode = (code: string, message = "failed") => Object.assign(new Error(message), { code });

describe("isUnavailableError", () => {
  it.each([
    ["a refused connection", withCode("ECONNREFUSED")],
    ["a reset connection", withCode("ECONNRESET")],
    ["a connect timeout", withCode("ETIMEDOUT")],
    ["admin shutdown (57P01)", withCode("57P01")],
    ["crash shutdown (57P02)", withCode("57P02")],
    ["cannot connect now (57P03)", withCode("57P03")],
    ["a connection exception (class 08)", withCode("08006")],
    ["a terminated connection", new Error("Connection terminated unexpectedly")],
    ["a pool acquire timeout", new Error("timeout exceeded when trying to connect")],
    ["a NATS timeout", Object.assign(new Error("timeout"), { name: "TimeoutError" })],
    ["a closed NATS connection", Object.assign(new Error("closed"), { name: "ClosedConnectionError" })],
    ["a cause that is one", Object.assign(new Error("outer"), { cause: withCode("ECONNREFUSED") })],
  ])("recognises %s", (_, error) => {
    expect(isUnavailableError(error)).toBe(true);
  });

  it.each([
    ["a unique violation", withCode("23505")],
    ["a syntax error", withCode("42601")],
    ["a plain error", new Error("boom")],
    ["a string", "ECONNREFUSED"],
    ["nothing", undefined],
  ])("does not take %s for an outage", (_, error) => {
    expect(isUnavailableError(error)).toBe(false);
  });

  it("makes toAppError answer 503 unavailable", () => {
    expect(toAppError(withCode("57P01")).code).toBe("unavailable");
    expect(toAppError(new Error("Connection terminated unexpectedly")).status).toBe(503);
  });
});

describe("Outage", () => {
  it("backs off from 100 ms doubling to at most 2 s, and logs once per outage", () => {
    const lines: string[] = [];
    const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
    const outage = new Outage(logger, "worker");
    const delays = Array.from({ length: 8 }, () => outage.failed(withCode("ECONNREFUSED")));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    expect(outage.failing).toBe(true);
    outage.succeeded();
    expect(outage.failing).toBe(false);
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual([
      "worker: a dependency is unavailable; pausing and retrying",
      "worker: resumed",
    ]);
    expect(outage.failed(withCode("ECONNREFUSED"))).toBe(100);
  });
});
