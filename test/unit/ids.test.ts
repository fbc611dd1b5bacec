import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../src/core/ids.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("uuidv7", () => {
  it("has the canonical 8-4-4-4-12 lower-case hex layout", () => {
    expect(uuidv7()).toMatch(UUID);
  });

  it("sets the version nibble to 7", () => {
    for (let index = 0; index < 200; index++) expect(uuidv7().charAt(14)).toBe("7");
  });

  it("sets the RFC 9562 variant bits (10xx)", () => {
    for (let index = 0; index < 200; index++) expect("89ab").toContain(uuidv7().charAt(19));
  });

  it("puts the millisecond timestamp in the first 48 bits", () => {
    const now = 0x0123456789ab;
    const id = uuidv7(now);
    expect(id.slice(0, 8) + id.slice(9, 13)).toBe("0123456789ab");
  });

  it("sorts ids made at increasing timestamps in that order", () => {
    const base = Date.UTC(2026, 0, 1);
    const ids = [0, 1, 2, 255, 256, 65_536, 86_400_000].map((offset) => uuidv7(base + offset));
    expect([...ids].sort()).toEqual(ids);
  });

  it("makes distinct ids within the same millisecond", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => uuidv7(1_700_000_000_000)));
    expect(ids.size).toBe(1000);
  });
});
