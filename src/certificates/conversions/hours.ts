/** UTC calendar years: hourly certificates cover one UTC hour each, 8,760 or 8,784 of them. */

export const HOUR_MS = 3_600_000;

export const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

export const hoursInYear = (year: number) => (isLeapYear(year) ? 8784 : 8760);

export function yearPeriod(year: number): { start: Date; end: Date } {
  return { start: new Date(Date.UTC(year, 0, 1)), end: new Date(Date.UTC(year + 1, 0, 1)) };
}

/** Start of an hour of the year, e.g. hour 0 of 2025 is 2025-01-01T00:00:00.000Z. */
export const hourStart = (year: number, hour: number) => new Date(Date.UTC(year, 0, 1) + hour * HOUR_MS);

/** The year a period is, when it is exactly one UTC calendar year. */
export function calendarYearOf(start: Date, end: Date): number | undefined {
  const year = start.getUTCFullYear();
  const period = yearPeriod(year);
  return start.getTime() === period.start.getTime() && end.getTime() === period.end.getTime() ? year : undefined;
}
