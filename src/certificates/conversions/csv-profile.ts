import { HOUR_MS, hourStart, hoursInYear, yearPeriod } from "./hours.js";

export const ENERGY_UNITS = ["Wh", "kWh", "MWh"] as const;
export type EnergyUnit = (typeof ENERGY_UNITS)[number];

/** Decimal places each unit may carry so that the value is a whole number of Wh. */
const UNIT_DECIMALS: Record<EnergyUnit, number> = { Wh: 0, kWh: 3, MWh: 6 };

export interface ProfileProblem {
  /** `row 17` (a line of the file, counting from 1, header included), or `body`. */
  path: string;
  message: string;
}

export type CsvProfile =
  | { ok: true; valuesWh: number[]; rows: number; units: EnergyUnit[] }
  | { ok: false; problems: ProfileProblem[] };

export interface CsvProfileOptions {
  year: number;
  /** The `unit` query parameter, if any; a unit column or a unit-named value column must agree with it. */
  unit?: EnergyUnit | undefined;
}

const MAX_PROBLEMS = 20;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;
const DECIMAL = /^\+?(\d+)(?:\.(\d+))?$/;

const TIMESTAMP_COLUMNS = new Set(["timestamp", "time", "datetime", "hour", "start"]);
const VALUE_COLUMNS: Record<string, EnergyUnit | undefined> = {
  value: undefined,
  energy: undefined,
  quantity: undefined,
  wh: "Wh",
  kwh: "kWh",
  mwh: "MWh",
  value_wh: "Wh",
  value_kwh: "kWh",
  value_mwh: "MWh",
};

/**
 * Parses an hourly profile from CSV: `timestamp,value` rows, one per UTC hour of the year, a
 * header optional. The unit (Wh, kWh or MWh) comes from a `unit` column, a value column named
 * after it (`kWh`, `value_kwh`), or the `unit` parameter; Wh when none names one. Values become
 * whole Wh exactly (kWh with at most 3 decimals, MWh with at most 6). Every problem names its row.
 */
export function parseCsvProfile(text: string, options: CsvProfileOptions): CsvProfile {
  const problems: ProfileProblem[] = [];
  const report = (row: number | null, message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ path: row === null ? "body" : `row ${row}`, message });
  };
  const hours = hoursInYear(options.year);
  const period = yearPeriod(options.year);
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split(/\r\n|\n|\r/);

  let columns: { timestamp: number; value: number; unit: number | undefined; valueUnit: EnergyUnit | undefined } | undefined;
  const valuesWh = new Array<number>(hours).fill(0);
  const rowOfHour = new Int32Array(hours);
  const units = new Set<EnergyUnit>();
  let dataRows = 0;
  let firstDataRow = 0;
  let lastDataRow = 0;

  for (let index = 0; index < lines.length; index++) {
    const row = index + 1;
    const line = lines[index]!;
    if (line.trim() === "") continue;
    const fields = line.split(",").map(unquote);
    if (!columns) {
      if (!looksLikeTimestamp(fields[0]!)) {
        const header = readHeader(fields, options.unit);
        if (typeof header === "string") {
          report(row, header);
          return { ok: false, problems };
        }
        columns = header;
        continue;
      }
      if (fields.length < 2 || fields.length > 3) {
        report(row, `expected 2 columns (timestamp,value) or 3 (timestamp,value,unit), got ${fields.length}`);
        return { ok: false, problems };
      }
      columns = { timestamp: 0, value: 1, unit: fields.length === 3 ? 2 : undefined, valueUnit: undefined };
    }
    dataRows++;
    firstDataRow ||= row;
    lastDataRow = row;
    const width = Math.max(columns.timestamp, columns.value, columns.unit ?? 0) + 1;
    if (fields.length !== width) {
      report(row, `expected ${width} columns, got ${fields.length}`);
      continue;
    }
    const rawTimestamp = fields[columns.timestamp]!;
    const time = parseTimestamp(rawTimestamp);
    if (typeof time === "string") {
      report(row, `timestamp ${JSON.stringify(rawTimestamp)} ${time}`);
      continue;
    }
    if (time % HOUR_MS !== 0) {
      report(row, `timestamp ${rawTimestamp} is not the start of a UTC hour`);
      continue;
    }
    if (time < period.start.getTime() || time >= period.end.getTime()) {
      report(row, `timestamp ${rawTimestamp} is outside ${options.year} (UTC), the certificate's year`);
      continue;
    }
    const hour = (time - period.start.getTime()) / HOUR_MS;
    if (rowOfHour[hour] !== 0) {
      report(row, `timestamp ${iso(time)} repeats row ${rowOfHour[hour]}`);
      continue;
    }
    rowOfHour[hour] = row;

    const unit = rowUnit(columns, fields, options.unit);
    if ("error" in unit) {
      report(row, unit.error);
      continue;
    }
    units.add(unit.unit);
    const value = toWattHours(fields[columns.value]!, unit.unit);
    if (typeof value === "string") {
      report(row, value);
      continue;
    }
    valuesWh[hour] = value;
  }

  if (problems.length > 0) return { ok: false, problems };
  if (dataRows === 0) {
    report(null, "the CSV has no data rows; send one `timestamp,value` row per UTC hour");
    return { ok: false, problems };
  }
  if (dataRows !== hours) reportGaps(rowOfHour, options.year, dataRows, report);
  if (problems.length > 0) return { ok: false, problems };
  if (valuesWh.every((value) => value === 0)) {
    problems.push({
      path: `rows ${firstDataRow}-${lastDataRow}`,
      message: "every value is zero: a profile needs at least one hour above zero to give proportions",
    });
    return { ok: false, problems };
  }
  return { ok: true, valuesWh, rows: dataRows, units: [...units] };
}

/** Every hour without a row, named by the row just before it in time (or the first row given). */
function reportGaps(rowOfHour: Int32Array, year: number, dataRows: number, report: (row: number | null, message: string) => void): void {
  const hours = rowOfHour.length;
  const count = `${dataRows} rows for the ${hours} hours of ${year}`;
  let previous = 0;
  for (let hour = 0; hour < hours; hour++) {
    if (rowOfHour[hour] !== 0) {
      previous = rowOfHour[hour]!;
      continue;
    }
    let next = hour + 1;
    while (next < hours && rowOfHour[next] === 0) next++;
    const missing = next - hour;
    const span = missing === 1 ? `no row for hour ${iso(hourStart(year, hour).getTime())}` : `no rows for the ${missing} hours ${iso(hourStart(year, hour).getTime())} to ${iso(hourStart(year, next - 1).getTime())}`;
    if (previous !== 0) report(previous, `gap after this row: ${span} (${count})`);
    else report(rowOfHour[next] ?? null, `gap before this row: ${span} (${count})`);
    hour = next - 1;
  }
}

function readHeader(fields: string[], parameter: EnergyUnit | undefined) {
  let timestamp: number | undefined;
  let value: number | undefined;
  let unit: number | undefined;
  let valueUnit: EnergyUnit | undefined;
  for (const [position, raw] of fields.entries()) {
    const name = raw.trim().toLowerCase();
    if (TIMESTAMP_COLUMNS.has(name) && timestamp === undefined) timestamp = position;
    else if (name in VALUE_COLUMNS && value === undefined) {
      value = position;
      valueUnit = VALUE_COLUMNS[name];
    } else if (name === "unit" && unit === undefined) unit = position;
    else return `unknown or repeated column ${JSON.stringify(raw)}; expected timestamp, value (or Wh, kWh, MWh) and optionally unit`;
  }
  if (timestamp === undefined || value === undefined) {
    return `the header needs a timestamp column and a value column (value, Wh, kWh or MWh), got ${JSON.stringify(fields.join(","))}`;
  }
  if (valueUnit && parameter && valueUnit !== parameter) {
    return `the value column is in ${valueUnit} but the unit parameter says ${parameter}`;
  }
  return { timestamp, value, unit, valueUnit };
}

function rowUnit(
  columns: { unit: number | undefined; valueUnit: EnergyUnit | undefined },
  fields: string[],
  parameter: EnergyUnit | undefined,
): { unit: EnergyUnit } | { error: string } {
  const fallback = columns.valueUnit ?? parameter ?? "Wh";
  if (columns.unit === undefined) return { unit: fallback };
  const raw = fields[columns.unit]!.trim();
  const named = ENERGY_UNITS.find((unit) => unit.toLowerCase() === raw.toLowerCase());
  if (!named) return { error: `unit ${JSON.stringify(raw)} is not one of Wh, kWh, MWh` };
  const other = columns.valueUnit ?? parameter;
  if (other && other !== named) return { error: `unit ${named} contradicts ${other} named by the ${columns.valueUnit ? "header" : "unit parameter"}` };
  return { unit: named };
}

/** A decimal in a unit, as whole watt-hours, or why it cannot be. */
export function toWattHours(raw: string, unit: EnergyUnit): number | string {
  const text = raw.trim();
  if (text.startsWith("-")) return `value ${text} is negative; hours produce zero or more energy`;
  const match = DECIMAL.exec(text);
  if (!match) return `value ${JSON.stringify(text)} is not a decimal number`;
  const decimals = UNIT_DECIMALS[unit];
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (fraction.length > decimals) {
    return decimals === 0
      ? `value ${text} Wh is not a whole number of Wh`
      : `value ${text} ${unit} has more than ${decimals} decimals, finer than 1 Wh`;
  }
  const wattHours = Number(match[1]! + fraction.padEnd(decimals, "0"));
  if (!Number.isSafeInteger(wattHours)) return `value ${text} ${unit} is too large`;
  return wattHours;
}

/** Milliseconds since the epoch, or why the text is not an RFC 3339 timestamp with an offset. */
function parseTimestamp(text: string): number | string {
  const match = TIMESTAMP.exec(text.trim());
  if (!match) {
    return /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text.trim())
      ? "has no UTC offset; write hours in UTC, e.g. 2025-01-01T00:00:00Z"
      : "is not an RFC 3339 timestamp such as 2025-01-01T00:00:00Z";
  }
  const [, y, mo, d, h, mi, s, fraction, , sign, offsetHours, offsetMinutes] = match;
  const year = Number(y);
  const month = Number(mo) - 1;
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s ?? 0);
  const local = Date.UTC(year, month, day, hour, minute, second);
  const check = new Date(local);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return "is not a valid date and time";
  }
  const offset = sign ? (sign === "-" ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000 : 0;
  // A fraction of a second is kept (as a part of a millisecond if need be) so that it is not "on the hour".
  const fractionMs = fraction ? Number(`0.${fraction}`) * 1000 : 0;
  return local - offset + fractionMs;
}

const looksLikeTimestamp = (field: string) => /^\s*\d{4}-/.test(field);

function unquote(field: string): string {
  const trimmed = field.trim();
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1).trim() : trimmed;
}

const iso = (time: number) => new Date(time).toISOString().replace(".000Z", "Z");
