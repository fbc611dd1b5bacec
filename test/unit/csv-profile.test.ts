import { describe, expect, it } from "vitest";
import { parseCsvProfile, toWattHours, type CsvProfile } from "../../src/certificates/conversions/csv-profile.js";
import { checkHourlyValues } from "../../src/certificates/conversions/conversions.js";

const HOUR = 3_600_000;
const hours = (year: number) => {
  const start = Date.UTC(year, 0, 1);
  return Array.from({ length: (Date.UTC(year + 1, 0, 1) - start) / HOUR }, (_, hour) => new Date(start + hour * HOUR).toISOString().replace(".000Z", "Z"));
};

/** A CSV for every hour of the year; `edit` may change the rows (index 0 is the first hour). */
function csv(year: number, options: { header?: string; value?: (hour: number) => string; edit?: (rows: string[]) => string[] } = {}) {
  let rows = hours(year).map((timestamp, hour) => `${timestamp},${options.value ? options.value(hour) : String((hour % 24) + 1)}`);
  if (options.edit) rows = options.edit(rows);
  return [...(options.header ? [options.header] : []), ...rows].join("\n");
}

function problems(result: CsvProfile) {
  expect(result.ok).toBe(false);
  return result.ok ? [] : result.problems;
}

function firstProblem(result: CsvProfile) {
  const [first] = problems(result);
  return `${first!.path}: ${first!.message}`;
}

describe("parseCsvProfile: good files", () => {
  it("reads timestamp,value rows without a header, in Wh by default", () => {
    const result = parseCsvProfile(csv(2025), { year: 2025 });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.valuesWh).toHaveLength(8760);
    expect(result.valuesWh.slice(0, 3)).toEqual([1, 2, 3]);
    expect(result.units).toEqual(["Wh"]);
  });

  it("reads a leap year as 8,784 hours", () => {
    const result = parseCsvProfile(csv(2024), { year: 2024 });
    expect(result.ok && result.valuesWh.length).toBe(8784);
  });

  it("converts kWh (3 decimals) and MWh (6 decimals) to whole Wh exactly, by parameter, header or unit column", () => {
    const byParameter = parseCsvProfile(csv(2025, { header: "timestamp,value", value: () => "1.234" }), { year: 2025, unit: "kWh" });
    expect(byParameter.ok && byParameter.valuesWh[0]).toBe(1234);
    const byHeader = parseCsvProfile(csv(2025, { header: "Timestamp,MWh", value: () => "0.000001" }), { year: 2025 });
    expect(byHeader.ok && byHeader.valuesWh[5]).toBe(1);
    const byColumn = parseCsvProfile(csv(2025, { header: "timestamp,value,unit", value: (hour) => (hour === 0 ? "2.5,MWh" : "7,kWh") }), { year: 2025 });
    expect(byColumn.ok && byColumn.valuesWh.slice(0, 2)).toEqual([2_500_000, 7000]);
    // 0.1 + 0.2 in floating point is not 0.3: the parser never uses floats.
    expect(toWattHours("0.3", "kWh")).toBe(300);
    expect(toWattHours("1234567.891", "kWh")).toBe(1_234_567_891);
    expect(toWattHours("2.000", "Wh")).toBe(2);
    expect(toWattHours("1.500", "Wh")).toMatch(/not a whole number/);
  });

  it("accepts rows in any order, offsets, CRLF line ends, a BOM, quotes and blank lines", () => {
    const rows = hours(2025).map((timestamp, hour) => `"${timestamp}",${hour + 1}`);
    rows.reverse();
    rows[0] = `"2026-01-01T01:00:00+02:00",8760`; // the last hour, written with an offset
    const text = "\ufefftimestamp,value\r\n" + rows.join("\r\n") + "\r\n\r\n";
    const result = parseCsvProfile(text, { year: 2025 });
    expect(result.ok).toBe(true);
    if (result.ok) expect([result.valuesWh[0], result.valuesWh[8759]]).toEqual([1, 8760]);
  });
});

describe("parseCsvProfile: every bad file names its row", () => {
  it("a repeated timestamp names both rows", () => {
    const text = csv(2025, { edit: (rows) => rows.map((row, index) => (index === 16 ? rows[15]! : row)) });
    expect(firstProblem(parseCsvProfile(text, { year: 2025 }))).toBe("row 17: timestamp 2025-01-01T15:00:00Z repeats row 16");
  });

  it("a gap names the row after which hours are missing", () => {
    const text = csv(2025, { header: "timestamp,value", edit: (rows) => rows.filter((_, index) => index !== 16) });
    expect(firstProblem(parseCsvProfile(text, { year: 2025 }))).toBe(
      "row 17: gap after this row: no row for hour 2025-01-01T16:00:00Z (8759 rows for the 8760 hours of 2025)",
    );
  });

  it("missing hours at the start are named by the first row", () => {
    const text = csv(2025, { edit: (rows) => rows.slice(3) });
    expect(firstProblem(parseCsvProfile(text, { year: 2025 }))).toMatch(/^row 1: gap before this row: no rows for the 3 hours 2025-01-01T00:00:00Z to 2025-01-01T02:00:00Z/);
  });

  it("a wrong hour count: too few rows (a year short of its last hours) and too many (an extra row)", () => {
    const short = csv(2024, { edit: (rows) => rows.slice(0, 8760) });
    expect(firstProblem(parseCsvProfile(short, { year: 2024 }))).toMatch(/^row 8760: gap after this row: no rows for the 24 hours 2024-12-31T00:00:00Z to 2024-12-31T23:00:00Z \(8760 rows for the 8784 hours of 2024\)/);
    const long = csv(2025, { edit: (rows) => [...rows, "2026-01-01T00:00:00Z,5"] });
    expect(firstProblem(parseCsvProfile(long, { year: 2025 }))).toBe("row 8761: timestamp 2026-01-01T00:00:00Z is outside 2025 (UTC), the certificate's year");
  });

  it("negative values, values that are not numbers, and values finer than 1 Wh", () => {
    const negative = csv(2025, { value: (hour) => (hour === 99 ? "-5" : "1") });
    expect(firstProblem(parseCsvProfile(negative, { year: 2025 }))).toBe("row 100: value -5 is negative; hours produce zero or more energy");
    const text = csv(2025, { value: (hour) => (hour === 4 ? "abc" : "1") });
    expect(firstProblem(parseCsvProfile(text, { year: 2025 }))).toBe('row 5: value "abc" is not a decimal number');
    const exponent = csv(2025, { value: (hour) => (hour === 4 ? "1e3" : "1") });
    expect(firstProblem(parseCsvProfile(exponent, { year: 2025 }))).toMatch(/^row 5: value "1e3" is not a decimal number/);
    const fineKwh = csv(2025, { header: "timestamp,kwh", value: (hour) => (hour === 9 ? "1.2345" : "1") });
    expect(firstProblem(parseCsvProfile(fineKwh, { year: 2025 }))).toBe("row 11: value 1.2345 kWh has more than 3 decimals, finer than 1 Wh");
    const fineWh = csv(2025, { value: (hour) => (hour === 0 ? "1.5" : "1") });
    expect(firstProblem(parseCsvProfile(fineWh, { year: 2025 }))).toBe("row 1: value 1.5 Wh is not a whole number of Wh");
    const fineMwh = csv(2025, { value: (hour) => (hour === 2 ? "0.0000001" : "1") });
    expect(firstProblem(parseCsvProfile(fineMwh, { year: 2025, unit: "MWh" }))).toBe("row 3: value 0.0000001 MWh has more than 6 decimals, finer than 1 Wh");
  });

  it("all zeros names the rows", () => {
    const text = csv(2025, { header: "timestamp,value", value: () => "0.000" });
    expect(firstProblem(parseCsvProfile(text, { year: 2025, unit: "kWh" }))).toBe(
      "rows 2-8761: every value is zero: a profile needs at least one hour above zero to give proportions",
    );
  });

  it("timestamps that are malformed, without an offset, not on the hour, impossible, or outside the year", () => {
    const edit = (index: number, timestamp: string) => csv(2025, { edit: (rows) => rows.map((row, i) => (i === index ? `${timestamp},1` : row)) });
    expect(firstProblem(parseCsvProfile(edit(6, "yesterday"), { year: 2025 }))).toBe('row 7: timestamp "yesterday" is not an RFC 3339 timestamp such as 2025-01-01T00:00:00Z');
    expect(firstProblem(parseCsvProfile(edit(6, "2025-01-01T06:00:00"), { year: 2025 }))).toMatch(/^row 7: timestamp "2025-01-01T06:00:00" has no UTC offset/);
    expect(firstProblem(parseCsvProfile(edit(6, "2025-01-01T06:30:00Z"), { year: 2025 }))).toBe("row 7: timestamp 2025-01-01T06:30:00Z is not the start of a UTC hour");
    expect(firstProblem(parseCsvProfile(edit(6, "2025-01-01T06:00:00.5Z"), { year: 2025 }))).toBe("row 7: timestamp 2025-01-01T06:00:00.5Z is not the start of a UTC hour");
    expect(firstProblem(parseCsvProfile(edit(6, "2025-02-30T06:00:00Z"), { year: 2025 }))).toBe('row 7: timestamp "2025-02-30T06:00:00Z" is not a valid date and time');
    expect(firstProblem(parseCsvProfile(edit(6, "2024-12-31T23:00:00Z"), { year: 2025 }))).toBe("row 7: timestamp 2024-12-31T23:00:00Z is outside 2025 (UTC), the certificate's year");
  });

  it("wrong columns, unknown units and contradicting units", () => {
    const wide = csv(2025, { edit: (rows) => rows.map((row, i) => (i === 2 ? `${row},x,y` : row)) });
    expect(firstProblem(parseCsvProfile(wide, { year: 2025 }))).toBe("row 3: expected 2 columns, got 4");
    expect(firstProblem(parseCsvProfile(csv(2025, { header: "when,value" }), { year: 2025 }))).toMatch(/^row 1: unknown or repeated column "when"/);
    const badUnit = csv(2025, { header: "timestamp,value,unit", value: (hour) => (hour === 1 ? "1,GWh" : "1,kWh") });
    expect(firstProblem(parseCsvProfile(badUnit, { year: 2025 }))).toBe('row 3: unit "GWh" is not one of Wh, kWh, MWh');
    const contradicting = csv(2025, { header: "timestamp,value,unit", value: () => "1,kWh" });
    expect(firstProblem(parseCsvProfile(contradicting, { year: 2025, unit: "MWh" }))).toBe("row 2: unit kWh contradicts MWh named by the unit parameter");
    expect(firstProblem(parseCsvProfile(csv(2025, { header: "timestamp,kWh" }), { year: 2025, unit: "Wh" }))).toBe(
      "row 1: the value column is in kWh but the unit parameter says Wh",
    );
  });

  it("an empty file or a header alone", () => {
    expect(firstProblem(parseCsvProfile("", { year: 2025 }))).toMatch(/^body: the CSV has no data rows/);
    expect(firstProblem(parseCsvProfile("timestamp,value\n", { year: 2025 }))).toMatch(/^body: the CSV has no data rows/);
  });

  it("reports up to 20 problems, each with its row", () => {
    const text = csv(2025, { value: (hour) => (hour % 100 === 0 ? "-1" : "1") });
    const found = problems(parseCsvProfile(text, { year: 2025 }));
    expect(found).toHaveLength(20);
    expect(found.map((problem) => problem.path).slice(0, 3)).toEqual(["row 1", "row 101", "row 201"]);
  });
});

describe("checkHourlyValues (JSON profiles)", () => {
  it("names the index and hour of each bad value, the count, and an all-zero profile", () => {
    expect(checkHourlyValues(new Array(8759).fill(1), 2025, 8760)).toEqual([
      { path: "profile.valuesWh", message: "expected 8760 values, one per UTC hour of 2025, got 8759" },
    ]);
    const values = new Array(8784).fill(1);
    values[17] = -3;
    values[18] = 1.5;
    expect(checkHourlyValues(values, 2024, 8784)).toEqual([
      { path: "profile.valuesWh.17", message: "hour 2024-01-01T17:00:00Z: -3 is negative" },
      { path: "profile.valuesWh.18", message: "hour 2024-01-01T18:00:00Z: 1.5 is not a whole number of Wh" },
    ]);
    expect(checkHourlyValues(new Array(8760).fill(0), 2025, 8760)[0]!.message).toMatch(/every value is zero/);
    expect(checkHourlyValues(new Array(8760).fill(2), 2025, 8760)).toEqual([]);
  });
});
