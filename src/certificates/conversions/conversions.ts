import { AppError, conflict, describeFieldErrors, notFound, unprocessable, type FieldError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { CertificateStore } from "../book/registry-store.js";
import type { ConversionPool } from "./conversion-pool.js";
import type { ConversionRunner } from "./conversion-runner.js";
import type { ConversionRecord, ConversionStore } from "./conversion-store.js";
import type { EnergyUnit, ProfileProblem } from "./csv-profile.js";
import { calendarYearOf, hourStart, hoursInYear } from "./hours.js";

export type ProfileInput =
  | { kind: "uniform" }
  | { kind: "hourly"; valuesWh: readonly number[] }
  | { kind: "csv"; text: string; unit?: EnergyUnit | undefined };

export interface ConversionRequest {
  /** Idempotency key: the same id for the same certificate again answers with the same conversion. */
  id?: string | undefined;
  annualCertificateId: string;
  profile: ProfileInput;
}

const MAX_REPORTED = 20;

/** Accepts conversions of cancelled annual certificates; the runner carries them out. */
export class Conversions {
  constructor(
    private readonly store: ConversionStore,
    private readonly certificates: CertificateStore,
    private readonly pool: ConversionPool,
    private readonly runner: ConversionRunner,
  ) {}

  async request(input: ConversionRequest, requestedBy: string): Promise<{ conversion: ConversionRecord; created: boolean }> {
    if (input.id) {
      const existing = await this.store.find(input.id);
      if (existing) {
        if (existing.annualCertificateId !== input.annualCertificateId) {
          throw conflict(`conversion ${input.id} exists for certificate ${existing.annualCertificateId}`);
        }
        return { conversion: existing, created: false };
      }
    }
    const annual = await this.certificates.find(input.annualCertificateId);
    if (!annual) throw notFound(`certificate ${input.annualCertificateId}`);
    if (annual.state.kind !== "annual") throw unprocessable(`certificate ${input.annualCertificateId} is hourly; only an annual certificate converts`);
    const active = await this.store.activeFor(input.annualCertificateId);
    if (active) {
      throw conflict(`certificate ${input.annualCertificateId} is already ${active.status === "done" ? "converted" : "converting"} (conversion ${active.id}); it converts once`);
    }
    if (annual.state.status !== "cancelled") {
      throw conflict(`certificate ${input.annualCertificateId} is ${annual.state.status}; only a cancelled annual certificate converts (cancel it first)`);
    }
    const year = calendarYearOf(new Date(annual.state.periodStart), new Date(annual.state.periodEnd));
    if (year === undefined) throw unprocessable(`certificate ${input.annualCertificateId} does not cover one UTC calendar year`);
    const hours = hoursInYear(year);
    const profile = await this.profileWh(input.profile, year, hours);
    if (!this.runner.hasRoom()) throw new AppError("unavailable", "the conversion queue is full; retry shortly");
    let conversion: ConversionRecord;
    try {
      conversion = await this.store.create({
        id: input.id ?? uuidv7(),
        annualCertificateId: input.annualCertificateId,
        profileKind: input.profile.kind,
        profileUnit: profile.unit,
        profileWh: profile.valuesWh,
        hours,
        quantityWh: annual.state.quantityWh,
        requestedBy,
      });
    } catch (error) {
      // The same request, sent twice at once: the second answers like a retry.
      const same = input.id ? await this.store.find(input.id) : undefined;
      if (same && same.annualCertificateId === input.annualCertificateId) return { conversion: same, created: false };
      throw error;
    }
    this.runner.submit(conversion.id);
    return { conversion, created: true };
  }

  async get(id: string): Promise<ConversionRecord> {
    const conversion = await this.store.find(id);
    if (!conversion) throw notFound(`conversion ${id}`);
    return conversion;
  }

  /** The profile as one whole-Wh value per hour, or a 400 naming each bad row. */
  private async profileWh(profile: ProfileInput, year: number, hours: number): Promise<{ valuesWh: readonly number[] | null; unit: string | null }> {
    if (profile.kind === "uniform") return { valuesWh: null, unit: null };
    if (profile.kind === "hourly") {
      const problems = checkHourlyValues(profile.valuesWh, year, hours);
      if (problems.length > 0) throw problemsError(problems);
      return { valuesWh: profile.valuesWh, unit: "Wh" };
    }
    // Parsing thousands of rows is CPU work: it runs on the pool too.
    const parsed = await this.pool.parseCsv({ text: profile.text, year, unit: profile.unit });
    if (!parsed.ok) throw problemsError(parsed.problems);
    return { valuesWh: parsed.valuesWh, unit: parsed.units.join(",") };
  }
}

/** Problems of a JSON profile, each naming its index (row) and hour. */
export function checkHourlyValues(values: readonly number[], year: number, hours: number): ProfileProblem[] {
  if (values.length !== hours) {
    return [{ path: "profile.valuesWh", message: `expected ${hours} values, one per UTC hour of ${year}, got ${values.length}` }];
  }
  const problems: ProfileProblem[] = [];
  let positive = false;
  const where = (hour: number) => `hour ${hourStart(year, hour).toISOString().replace(".000Z", "Z")}`;
  for (let hour = 0; hour < values.length && problems.length < MAX_REPORTED; hour++) {
    const value = values[hour]!;
    if (value > 0 && Number.isSafeInteger(value)) positive = true;
    else if (!Number.isSafeInteger(value)) problems.push({ path: `profile.valuesWh.${hour}`, message: `${where(hour)}: ${value} is not a whole number of Wh` });
    else if (value < 0) problems.push({ path: `profile.valuesWh.${hour}`, message: `${where(hour)}: ${value} is negative` });
  }
  if (problems.length === 0 && !positive) {
    problems.push({ path: "profile.valuesWh", message: "every value is zero: a profile needs at least one hour above zero to give proportions" });
  }
  return problems;
}

/** A 400 whose detail names the first bad row, with every one listed in `errors`. */
function problemsError(problems: ProfileProblem[]): AppError {
  const errors: FieldError[] = problems.map((problem) => ({ path: problem.path, message: problem.message }));
  return new AppError("validation_failed", describeFieldErrors(errors), errors);
}
