import { z } from "@hono/zod-openapi";
import { NOTIFICATION_TYPES } from "./notifications/envelope.js";
import { isCertificateType } from "./notifications/operational.js";

export const WHERE_KEYS = ["gridArea", "owner", "energySource", "kind", "deviceId"] as const;
export type WhereKey = (typeof WHERE_KEYS)[number];

const TYPE_PREFIXES = [...new Set(NOTIFICATION_TYPES.map((type) => type.split(".")[0]!))];

export const TypePatternSchema = z
  .string()
  .refine(
    (pattern) =>
      pattern === "*" ||
      (NOTIFICATION_TYPES as readonly string[]).includes(pattern) ||
      TYPE_PREFIXES.some((prefix) => pattern === `${prefix}.*`),
    { error: `expected "*", "certificate.*", "subscription.*" or one of ${NOTIFICATION_TYPES.join(", ")}` },
  );

const whereValues = z.array(z.string().min(1).max(128)).min(1, { error: "list at least one value" }).max(1000);

export const FilterSchema = z
  .strictObject({
    types: z.array(TypePatternSchema).min(1, { error: "list at least one type pattern" }).max(50),
    where: z
      .strictObject({
        gridArea: whereValues.optional(),
        owner: whereValues.optional(),
        energySource: whereValues.optional(),
        kind: whereValues.optional(),
        deviceId: whereValues.optional(),
      })
      .optional(),
  })
  .openapi("Filter", {
    description: "Type patterns are OR-ed; `where` keys are AND-ed, the values of one key OR-ed.",
  });

export type Filter = z.infer<typeof FilterSchema>;

export const FiltersSchema = z.array(FilterSchema).min(1, { error: "list at least one filter" }).max(50);

export interface Matchable {
  type: string;
  data: Partial<Record<WhereKey, unknown>>;
}

export type Matcher = (notification: Matchable) => boolean;

/**
 * `*` is every certificate type: operational notifications (`subscription.*`) are opt-in, so a
 * subscriber that expects certificate states never meets one it did not ask for.
 */
function typeMatcher(patterns: readonly string[]): (type: string) => boolean {
  const all = patterns.includes("*");
  const exact = new Set(patterns.filter((pattern) => !pattern.endsWith(".*")));
  const prefixes = patterns.filter((pattern) => pattern.endsWith(".*")).map((pattern) => pattern.slice(0, -1));
  return (type) => (all && isCertificateType(type)) || exact.has(type) || prefixes.some((prefix) => type.startsWith(prefix));
}

function whereMatcher(where: Filter["where"]): (data: Matchable["data"]) => boolean {
  const clauses = Object.entries(where ?? {})
    .filter((entry): entry is [WhereKey, string[]] => entry[1] !== undefined)
    .map(([key, values]) => [key, new Set(values)] as const);
  return (data) =>
    clauses.every(([key, values]) => {
      const value = data[key];
      return typeof value === "string" && values.has(value);
    });
}

/** Compiles filters once; matching a notification then costs a few set look-ups. */
export function compileFilters(filters: readonly Filter[]): Matcher {
  const compiled = filters.map((filter) => ({ type: typeMatcher(filter.types), where: whereMatcher(filter.where) }));
  return (notification) => compiled.some((filter) => filter.type(notification.type) && filter.where(notification.data));
}

/** Whether a certificate's state falls under any filter's `where`, whatever the types: what prefill sends. */
export function compileStateFilter(filters: readonly Filter[]): (data: Matchable["data"]) => boolean {
  const wheres = filters.map((filter) => whereMatcher(filter.where));
  return (data) => wheres.some((where) => where(data));
}
