import { describe, expect, it } from "vitest";
import { formatAckId, parseAckId, phaseCode, phaseName, type AckId } from "../../src/mom/ledger/ledger.js";

describe("formatAckId", () => {
  it("writes live ack ids as l<seq>.<deliveryCount>", () => {
    expect(formatAckId({ phase: "live", seq: 1234, deliveryCount: 2 })).toBe("l1234.2");
  });

  it("writes prefill ack ids as p<seq>.<deliveryCount>", () => {
    expect(formatAckId({ phase: "prefill", seq: 7, deliveryCount: 1 })).toBe("p7.1");
  });
});

describe("parseAckId", () => {
  it.each<AckId>([
    { phase: "live", seq: 1, deliveryCount: 1 },
    { phase: "live", seq: 1234, deliveryCount: 2 },
    { phase: "prefill", seq: 0, deliveryCount: 999_999_999 },
    { phase: "prefill", seq: Number.MAX_SAFE_INTEGER, deliveryCount: 3 },
  ])("round-trips %o through formatAckId", (ackId) => {
    expect(parseAckId(formatAckId(ackId))).toEqual(ackId);
  });

  it("parses the parts of a live ack id", () => {
    expect(parseAckId("l42.3")).toEqual({ phase: "live", seq: 42, deliveryCount: 3 });
  });

  it("parses the parts of a prefill ack id", () => {
    expect(parseAckId("p42.3")).toEqual({ phase: "prefill", seq: 42, deliveryCount: 3 });
  });

  it.each([
    "",
    "l",
    "l1",
    "l1.",
    "l.1",
    "x1.1",
    "L1.1",
    "l-1.1",
    "l1.-1",
    "l1.1.1",
    "l1.1 ",
    " l1.1",
    "l1.2x",
    "l1e3.1",
    "l1.5.",
    "l1234567890123456789.1", // 19-digit sequence
    "l1.1234567890", // 10-digit delivery count
    "l9007199254740993.1", // beyond Number.MAX_SAFE_INTEGER: would name another message
    "l007.1", // leading zeros
    "l5.0", // no delivery is number 0
  ])("refuses the malformed ack id %j", (text) => {
    expect(parseAckId(text)).toBeUndefined();
  });
});

describe("phaseCode / phaseName", () => {
  it("maps phases to codes and back", () => {
    expect(phaseCode("prefill")).toBe(0);
    expect(phaseCode("live")).toBe(1);
    expect(phaseName(phaseCode("prefill"))).toBe("prefill");
    expect(phaseName(phaseCode("live"))).toBe("live");
  });

  it("reads an unknown code as live", () => {
    expect(phaseName(7)).toBe("live");
  });
});
