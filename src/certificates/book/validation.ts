import { calendarYearOf, hoursInYear, HOUR_MS } from "../conversions/hours.js";
import { hourlyCertificateId } from "./ids.js";
import type { CertificateRecord, FamilyFacts } from "./registry-store.js";

export type CheckResult = "passed" | "failed" | "skipped";

export interface ValidationCheck {
  name: "exactTotal" | "hourCount" | "year" | "source" | "parent" | "noDuplicateHours" | "uniqueIds" | "status";
  result: CheckResult;
  detail: string;
}

export interface ValidationReport {
  certificateId: string;
  kind: "annual" | "hourly";
  /** True when no check failed. */
  valid: boolean;
  checkedAt: string;
  checks: ValidationCheck[];
}

const check = (name: ValidationCheck["name"], passed: boolean, ok: string, failed: string): ValidationCheck => ({
  name,
  result: passed ? "passed" : "failed",
  detail: passed ? ok : failed,
});
const skipped = (name: ValidationCheck["name"], detail: string): ValidationCheck => ({ name, result: "skipped", detail });

/** Checks an annual certificate and, once it is converted, every hourly certificate it became. */
export function validateAnnual(annual: CertificateRecord, family: FamilyFacts): ValidationCheck[] {
  const { state } = annual;
  const year = calendarYearOf(new Date(state.periodStart), new Date(state.periodEnd));
  const converted = annual.conversionId !== null;
  const checks: ValidationCheck[] = [];
  if (!converted) {
    const why = "not converted: it has no hourly certificates";
    checks.push(
      check("exactTotal", family.count === 0, why, `${family.count} hourly certificates exist without a conversion`),
      skipped("hourCount", why),
      check("year", year !== undefined, `the period is the UTC calendar year ${year}`, `the period ${state.periodStart}..${state.periodEnd} is not one UTC calendar year`),
      skipped("source", why),
      check("parent", state.parentCertificateId === undefined, "an annual certificate has no parent", "an annual certificate must not have a parent"),
      skipped("noDuplicateHours", why),
      skipped("uniqueIds", why),
      check("status", family.count === 0, `${state.status}, version ${state.version}`, "hourly certificates exist but the certificate is not converted"),
    );
    return checks;
  }
  const hours = year === undefined ? undefined : hoursInYear(year);
  checks.push(
    check(
      "exactTotal",
      family.totalWh === state.quantityWh,
      `${family.count} hourly certificates sum to ${family.totalWh} Wh, the annual quantity exactly`,
      `the hourly certificates sum to ${family.totalWh} Wh, the annual quantity is ${state.quantityWh} Wh (off by ${family.totalWh - state.quantityWh} Wh)`,
    ),
    check(
      "hourCount",
      hours !== undefined && family.count === hours && family.minHour === 0 && family.maxHour === hours - 1,
      `${family.count} hourly certificates, one per UTC hour of ${year}`,
      `${family.count} hourly certificates (hours ${family.minHour}..${family.maxHour}); ${year} has ${hours ?? "?"} UTC hours`,
    ),
    check(
      "year",
      year !== undefined && family.outsideParent === 0 && family.notOneHour === 0,
      `every hour lies in ${year} (UTC) and lasts one hour`,
      `${family.outsideParent} hourly certificates fall outside ${state.periodStart}..${state.periodEnd}, ${family.notOneHour} do not last one hour`,
    ),
    check(
      "source",
      family.sourceMismatch === 0,
      `every hour has device ${state.deviceId}, grid area ${state.gridArea} and source ${state.energySource}`,
      `${family.sourceMismatch} hourly certificates differ in device, grid area or energy source`,
    ),
    check(
      "parent",
      family.otherConversion === 0 && state.parentCertificateId === undefined,
      `every hour names ${state.certificateId} as parent and was issued by conversion ${annual.conversionId}`,
      `${family.otherConversion} hourly certificates were issued by another conversion`,
    ),
    check(
      "noDuplicateHours",
      family.distinctHours === family.count && family.distinctStarts === family.count && family.misplaced === 0,
      `${family.distinctStarts} distinct hours`,
      `${family.count - family.distinctStarts} repeated hours, ${family.misplaced} hours not where their index says`,
    ),
    check(
      "uniqueIds",
      family.idMismatch === 0,
      `every id is unique and named <annual>-hNNNN after its hour`,
      `${family.idMismatch} hourly certificates are not named after their hour`,
    ),
    check(
      "status",
      state.status === "cancelled" && family.badStatus === 0,
      "the annual certificate is cancelled (converted) and every hour not yet changed is active",
      state.status !== "cancelled"
        ? `a converted annual certificate must be cancelled, it is ${state.status}`
        : `${family.badStatus} hourly certificates at version 1 are not active`,
    ),
  );
  return checks;
}

/** Checks an hourly certificate against its annual parent and its siblings. */
export function validateHourly(
  hourly: CertificateRecord,
  parent: CertificateRecord | undefined,
  family: FamilyFacts | undefined,
  sameHour: number,
): ValidationCheck[] {
  const { state } = hourly;
  if (!parent || !family) {
    const why = `its parent ${state.parentCertificateId} does not exist`;
    return [
      check("parent", false, "", why),
      skipped("exactTotal", why),
      skipped("hourCount", why),
      skipped("year", why),
      skipped("source", why),
      skipped("noDuplicateHours", why),
      skipped("uniqueIds", why),
      skipped("status", why),
    ];
  }
  const start = Date.parse(state.periodStart);
  const end = Date.parse(state.periodEnd);
  const parentStart = Date.parse(parent.state.periodStart);
  const year = calendarYearOf(new Date(parent.state.periodStart), new Date(parent.state.periodEnd));
  const hours = year === undefined ? undefined : hoursInYear(year);
  const hour = hourly.hour ?? -1;
  return [
    check(
      "exactTotal",
      family.totalWh === parent.state.quantityWh,
      `the ${family.count} hours of ${parent.state.certificateId} sum to its ${parent.state.quantityWh} Wh exactly`,
      `the hours of ${parent.state.certificateId} sum to ${family.totalWh} Wh, not ${parent.state.quantityWh} Wh`,
    ),
    check(
      "hourCount",
      hours !== undefined && family.count === hours,
      `${family.count} hourly certificates, one per UTC hour of ${year}`,
      `${family.count} hourly certificates; ${year} has ${hours ?? "?"} UTC hours`,
    ),
    check(
      "year",
      end - start === HOUR_MS && start % HOUR_MS === 0 && start >= parentStart && end <= Date.parse(parent.state.periodEnd) && start === parentStart + hour * HOUR_MS,
      `${state.periodStart} is hour ${hour} of ${year}`,
      `the period ${state.periodStart}..${state.periodEnd} is not hour ${hour} of the parent's year`,
    ),
    check(
      "source",
      state.deviceId === parent.state.deviceId && state.gridArea === parent.state.gridArea && state.energySource === parent.state.energySource,
      `device, grid area and energy source match ${parent.state.certificateId}`,
      `device, grid area or energy source differ from ${parent.state.certificateId}`,
    ),
    check(
      "parent",
      parent.state.kind === "annual" && parent.conversionId !== null && parent.conversionId === hourly.conversionId,
      `${parent.state.certificateId} is an annual certificate converted by ${parent.conversionId}`,
      `${parent.state.certificateId} is not the converted annual certificate this hour came from`,
    ),
    check("noDuplicateHours", sameHour === 1, "no other hourly certificate of the parent covers this hour", `${sameHour} hourly certificates cover this hour`),
    check(
      "uniqueIds",
      state.certificateId === hourlyCertificateId(parent.state.certificateId, hour),
      `named after hour ${hour} of ${parent.state.certificateId}`,
      `expected the id ${hourlyCertificateId(parent.state.certificateId, hour)}`,
    ),
    check(
      "status",
      parent.state.status === "cancelled" && (state.version > 1 || state.status === "active"),
      `${state.status}, version ${state.version}; the parent is cancelled`,
      parent.state.status !== "cancelled" ? `the parent is ${parent.state.status}, not cancelled` : `issued ${state.status}, not active`,
    ),
  ];
}
