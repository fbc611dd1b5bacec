import { describe, expect, it } from "vitest";
import {
  compileFilters,
  compileStateFilter,
  FiltersSchema,
  TypePatternSchema,
  type Filter,
  type Matchable,
} from "../../src/core/filters.js";
import { CERTIFICATE_TYPES, NOTIFICATION_TYPES } from "../../src/core/notifications/envelope.js";
import { OPERATIONAL_TYPES } from "../../src/core/notifications/operational.js";

const state = {
  gridArea: "DK1",
  owner: "owner-a",
  energySource: "wind",
  kind: "annual",
  deviceId: "device-1",
};

const note = (type: string, data: Partial<typeof state> = {}): Matchable => ({ type, data: { ...state, ...data } });

describe("compileFilters type patterns", () => {
  it("matches an exact type and nothing else", () => {
    const matches = compileFilters([{ types: ["certificate.issued"] }]);
    expect(matches(note("certificate.issued"))).toBe(true);
    expect(matches(note("certificate.cancelled"))).toBe(false);
  });

  it("matches every certificate type with certificate.*", () => {
    const matches = compileFilters([{ types: ["certificate.*"] }]);
    for (const type of CERTIFICATE_TYPES) expect(matches(note(type))).toBe(true);
    for (const type of OPERATIONAL_TYPES) expect(matches(note(type))).toBe(false);
    expect(matches(note("registry.command.accepted"))).toBe(false);
    expect(matches(note("certificates.issued"))).toBe(false);
    expect(matches(note("other.issued"))).toBe(false);
  });

  it("matches every certificate type with *, and operational types only when asked for", () => {
    const matches = compileFilters([{ types: ["*"] }]);
    for (const type of CERTIFICATE_TYPES) expect(matches(note(type))).toBe(true);
    expect(matches(note("subscription.disabled"))).toBe(false);
    const operator = compileFilters([{ types: ["subscription.*"] }]);
    for (const type of OPERATIONAL_TYPES) expect(operator({ type, data: {} })).toBe(true);
    expect(operator(note("certificate.issued"))).toBe(false);
  });

  it("ORs the type patterns of one filter", () => {
    const matches = compileFilters([{ types: ["certificate.issued", "certificate.claimed"] }]);
    expect(matches(note("certificate.issued"))).toBe(true);
    expect(matches(note("certificate.claimed"))).toBe(true);
    expect(matches(note("certificate.expired"))).toBe(false);
  });
});

describe("compileFilters where clauses", () => {
  it("ANDs different where keys", () => {
    const matches = compileFilters([{ types: ["*"], where: { gridArea: ["DK1"], energySource: ["wind"] } }]);
    expect(matches(note("certificate.issued"))).toBe(true);
    expect(matches(note("certificate.issued", { energySource: "solar" }))).toBe(false);
    expect(matches(note("certificate.issued", { gridArea: "DK2" }))).toBe(false);
  });

  it("ORs the values of one where key", () => {
    const matches = compileFilters([{ types: ["*"], where: { gridArea: ["DK1", "DK2"] } }]);
    expect(matches(note("certificate.issued", { gridArea: "DK1" }))).toBe(true);
    expect(matches(note("certificate.issued", { gridArea: "DK2" }))).toBe(true);
    expect(matches(note("certificate.issued", { gridArea: "SE3" }))).toBe(false);
  });

  it("requires both the type and the where clause of a filter to match", () => {
    const matches = compileFilters([{ types: ["certificate.issued"], where: { owner: ["owner-a"] } }]);
    expect(matches(note("certificate.issued"))).toBe(true);
    expect(matches(note("certificate.cancelled"))).toBe(false);
    expect(matches(note("certificate.issued", { owner: "owner-b" }))).toBe(false);
  });

  it("treats an empty where object as no constraint", () => {
    const matches = compileFilters([{ types: ["*"], where: {} }]);
    expect(matches(note("certificate.issued", { gridArea: "anything" }))).toBe(true);
  });

  it("does not match when the data lacks a key the where clause names", () => {
    const matches = compileFilters([{ types: ["*"], where: { deviceId: ["device-1"] } }]);
    expect(matches({ type: "certificate.issued", data: { gridArea: "DK1" } })).toBe(false);
  });

  it("does not read a missing field as the string \"undefined\"", () => {
    const matches = compileFilters([{ types: ["*"], where: { owner: ["undefined"] } }]);
    expect(matches({ type: "certificate.issued", data: { gridArea: "DK1" } })).toBe(false);
  });
});

describe("compileFilters with several filters", () => {
  const filters: Filter[] = [
    { types: ["certificate.issued"], where: { gridArea: ["DK1"] } },
    { types: ["certificate.claimed"], where: { owner: ["owner-z"] } },
  ];
  const matches = compileFilters(filters);

  it("matches when any one filter matches", () => {
    expect(matches(note("certificate.issued"))).toBe(true);
    expect(matches(note("certificate.claimed", { owner: "owner-z" }))).toBe(true);
  });

  it("does not mix the type of one filter with the where of another", () => {
    expect(matches(note("certificate.claimed", { owner: "owner-a" }))).toBe(false);
    expect(matches(note("certificate.issued", { gridArea: "DK2", owner: "owner-z" }))).toBe(false);
  });

  it("matches nothing when there are no filters", () => {
    expect(compileFilters([])(note("certificate.issued"))).toBe(false);
  });
});

describe("compileStateFilter", () => {
  it("ignores the types and looks only at where clauses", () => {
    const matches = compileStateFilter([{ types: ["certificate.expired"], where: { gridArea: ["DK1"] } }]);
    expect(matches(state)).toBe(true);
    expect(matches({ ...state, gridArea: "DK2" })).toBe(false);
  });

  it("ORs filters and ANDs keys within one", () => {
    const matches = compileStateFilter([
      { types: ["*"], where: { gridArea: ["DK1"], owner: ["owner-b"] } },
      { types: ["*"], where: { energySource: ["solar"] } },
    ]);
    expect(matches(state)).toBe(false);
    expect(matches({ ...state, owner: "owner-b" })).toBe(true);
    expect(matches({ ...state, gridArea: "DK2", energySource: "solar" })).toBe(true);
  });

  it("matches every state for a filter without where", () => {
    expect(compileStateFilter([{ types: ["certificate.issued"] }])({ gridArea: "XX" })).toBe(true);
  });
});

describe("TypePatternSchema", () => {
  it.each(["*", "certificate.*", "subscription.*", ...NOTIFICATION_TYPES])("accepts %s", (pattern) => {
    expect(TypePatternSchema.safeParse(pattern).success).toBe(true);
  });

  it.each(["", "certificate", "certificate.", "cert*", "*.*", "certificate.unknown", "other.*", "Certificate.issued"])(
    "refuses %j",
    (pattern) => {
      expect(TypePatternSchema.safeParse(pattern).success).toBe(false);
    },
  );
});

describe("FiltersSchema", () => {
  const issuePaths = (value: unknown) => {
    const result = FiltersSchema.safeParse(value);
    expect(result.success).toBe(false);
    return result.error!.issues.map((issue) => issue.path);
  };

  it("accepts valid filters", () => {
    const result = FiltersSchema.safeParse([
      { types: ["certificate.*"], where: { gridArea: ["DK1", "DK2"], kind: ["hourly"] } },
      { types: ["*"] },
    ]);
    expect(result.success).toBe(true);
  });

  it("refuses an empty list of filters", () => {
    expect(issuePaths([])).toEqual([[]]);
  });

  it("refuses a filter with no type patterns", () => {
    expect(issuePaths([{ types: [] }])).toEqual([[0, "types"]]);
  });

  it("refuses a bad type pattern, naming its position", () => {
    expect(issuePaths([{ types: ["certificate.issued", "certificate.bogus"] }])).toEqual([[0, "types", 1]]);
  });

  it("refuses an unknown where key", () => {
    expect(issuePaths([{ types: ["*"], where: { colour: ["green"] } }])).toEqual([[0, "where"]]);
  });

  it("refuses an unknown key on the filter itself", () => {
    expect(issuePaths([{ types: ["*"], extra: true }])).toEqual([[0]]);
  });

  it("refuses an empty list of where values", () => {
    expect(issuePaths([{ types: ["*"], where: { owner: [] } }])).toEqual([[0, "where", "owner"]]);
  });

  it("refuses an empty where value string", () => {
    expect(issuePaths([{ types: ["*"], where: { owner: [""] } }])).toEqual([[0, "where", "owner", 0]]);
  });

  it("refuses more than 50 filters", () => {
    expect(issuePaths(Array.from({ length: 51 }, () => ({ types: ["*"] })))).toEqual([[]]);
  });
});
