import type { z } from "@hono/zod-openapi";
import { utcTimestamp } from "./certificate.js";

/**
 * Fast paths of zod schemas for the hot paths (a batch of 1,000 notifications is validated on
 * the request's thread, and the projection checks every state it reads back).
 *
 * `fastParser(schema)` reads the schema's definition once and builds a plain function for the
 * small subset of zod certflow's notification schemas use (strict objects, strings with length
 * and pattern checks, safe integers with bounds, enums, literals, optional, nullable, arrays,
 * `record(string, unknown)` and the `utcTimestamp` transform). The function answers the value
 * the schema would produce, or `INVALID` when the input is anything but plainly valid; callers
 * then ask the schema itself, which words the errors (and decides anything the fast path
 * declined). So the fast path may refuse more than the schema, never accept more; a schema
 * node it does not know makes `fastParser` throw at start-up rather than guess.
 */
export const INVALID: unique symbol = Symbol("invalid");
export type FastParser<T> = (input: unknown) => T | typeof INVALID;

type Node = (input: unknown) => unknown;
interface Def {
  type: string;
  checks?: Array<{ _zod: { def: CheckDef } }>;
  [key: string]: unknown;
}
interface CheckDef {
  check: string;
  [key: string]: unknown;
}

const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

export const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
};

/** Builds the fast path of `schema`; throws when the schema uses anything outside the supported subset. */
export function fastParser<S extends z.ZodType>(schema: S): FastParser<z.output<S>> {
  return build(schema) as FastParser<z.output<S>>;
}

function build(schema: unknown): Node {
  if (schema === utcTimestamp) return timestamp(build(defOf(utcTimestamp).in));
  const def = defOf(schema);
  const checks = (def.checks ?? []).map((check) => check._zod.def);
  switch (def.type) {
    case "string":
      return string(def, checks);
    case "number":
      return number(checks);
    case "enum": {
      noChecks(def, checks);
      const values = new Set(Object.values(def.entries as Record<string, unknown>));
      return (input) => (values.has(input) ? input : INVALID);
    }
    case "literal": {
      noChecks(def, checks);
      const values = new Set(def.values as unknown[]);
      return (input) => (values.has(input) ? input : INVALID);
    }
    case "optional": {
      noChecks(def, checks);
      // Absent keys never reach a node (objects skip them); an explicit `undefined` is left to zod.
      return build(def.innerType);
    }
    case "nullable": {
      noChecks(def, checks);
      const inner = build(def.innerType);
      return (input) => (input === null ? null : inner(input));
    }
    case "object":
      return object(def, checks);
    case "array":
      return array(def, checks);
    case "record": {
      noChecks(def, checks);
      if (defOf(def.keyType).type !== "string" || (defOf(def.keyType).checks ?? []).length > 0 || defOf(def.valueType).type !== "unknown") {
        throw unsupported("record other than record(string, unknown)");
      }
      return (input) => {
        if (!isPlainObject(input)) return INVALID;
        const output: Record<string, unknown> = {};
        for (const key of Object.keys(input)) {
          if (key === "__proto__") return INVALID;
          output[key] = input[key];
        }
        return output;
      };
    }
    default:
      throw unsupported(`schema type ${def.type}`);
  }
}

function string(def: Def, checks: CheckDef[]): Node {
  const patterns: RegExp[] = [];
  if (def.format !== undefined) {
    if (!["uuid", "datetime"].includes(def.format as string) || !(def.pattern instanceof RegExp)) throw unsupported(`string format ${String(def.format)}`);
    patterns.push(def.pattern);
  }
  let minimum = 0;
  let maximum = Infinity;
  for (const check of checks) {
    if (check.check === "min_length") minimum = Math.max(minimum, check.minimum as number);
    else if (check.check === "max_length") maximum = Math.min(maximum, check.maximum as number);
    else if (check.check === "string_format" && check.format === "regex" && check.pattern instanceof RegExp && !check.pattern.global && !check.pattern.sticky) {
      patterns.push(check.pattern);
    } else throw unsupported(`string check ${check.check}`);
  }
  return (input) => {
    if (typeof input !== "string" || input.length < minimum || input.length > maximum) return INVALID;
    for (const pattern of patterns) if (!pattern.test(input)) return INVALID;
    return input;
  };
}

function number(checks: CheckDef[]): Node {
  let integer = false;
  const bounds: Array<(value: number) => boolean> = [];
  for (const check of checks) {
    const limit = check.value as number;
    if (check.check === "number_format" && check.format === "safeint") integer = true;
    else if (check.check === "greater_than") bounds.push(check.inclusive === true ? (value) => value >= limit : (value) => value > limit);
    else if (check.check === "less_than") bounds.push(check.inclusive === true ? (value) => value <= limit : (value) => value < limit);
    else throw unsupported(`number check ${check.check}`);
  }
  return (input) => {
    if (typeof input !== "number" || !Number.isFinite(input) || (integer && !Number.isSafeInteger(input))) return INVALID;
    for (const within of bounds) if (!within(input)) return INVALID;
    return input;
  };
}

/** Strict objects only: an unknown key is left to zod, which refuses it. Output keys follow the shape, as zod's do. */
function object(def: Def, checks: CheckDef[]): Node {
  noChecks(def, checks);
  if (def.catchall === undefined || defOf(def.catchall).type !== "never") throw unsupported("objects other than strict ones");
  const fields = Object.entries(def.shape as Record<string, unknown>).map(([key, schema]) => ({
    key,
    required: defOf(schema).type !== "optional",
    parse: build(schema),
  }));
  const known = new Set(fields.map((field) => field.key));
  return (input) => {
    if (!isPlainObject(input)) return INVALID;
    let present = 0;
    for (const key in input) {
      if (!known.has(key) || !Object.hasOwn(input, key)) return INVALID;
      present++;
    }
    const output: Record<string, unknown> = {};
    for (const field of fields) {
      const value = input[field.key];
      if (value === undefined) {
        if (field.required || Object.hasOwn(input, field.key)) return INVALID;
        continue;
      }
      const parsed = field.parse(value);
      if (parsed === INVALID) return INVALID;
      output[field.key] = parsed;
      present--;
    }
    return present === 0 ? output : INVALID;
  };
}

function array(def: Def, checks: CheckDef[]): Node {
  let minimum = 0;
  let maximum = Infinity;
  for (const check of checks) {
    if (check.check === "min_length") minimum = Math.max(minimum, check.minimum as number);
    else if (check.check === "max_length") maximum = Math.min(maximum, check.maximum as number);
    else throw unsupported(`array check ${check.check}`);
  }
  const element = build(def.element);
  return (input) => {
    if (!Array.isArray(input) || input.length < minimum || input.length > maximum) return INVALID;
    const output: unknown[] = new Array(input.length);
    for (let index = 0; index < input.length; index++) {
      const parsed = element(input[index]);
      if (parsed === INVALID) return INVALID;
      output[index] = parsed;
    }
    return output;
  };
}

/** The form `toISOString` writes (years 0000-9999): what `utcTimestamp` makes of every timestamp. */
const CANONICAL_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * `utcTimestamp`: an RFC 3339 timestamp, normalised to UTC milliseconds as its transform does. One
 * already in that form (and valid: the format's pattern checks the calendar) is its own result.
 */
function timestamp(format: Node): Node {
  return (input) => {
    if (format(input) === INVALID) return INVALID;
    if (CANONICAL_TIMESTAMP.test(input as string)) return input;
    const date = new Date(input as string);
    return Number.isNaN(date.getTime()) ? INVALID : date.toISOString();
  };
}

/**
 * `Date.parse(a) <= Date.parse(b)` for two valid `utcTimestamp` results, without parsing them when
 * both are in the canonical form (string order is time order there).
 */
export function validTimestampNotAfter(a: string, b: string): boolean {
  return CANONICAL_TIMESTAMP.test(a) && CANONICAL_TIMESTAMP.test(b) ? a <= b : Date.parse(a) <= Date.parse(b);
}

function noChecks(def: Def, checks: CheckDef[]): void {
  if (checks.length > 0) throw unsupported(`checks on a ${def.type}`);
}

const unsupported = (what: string) => new Error(`fastParser does not support ${what}`);
