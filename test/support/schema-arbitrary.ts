import fc from "fast-check";

/** The parts of a JSON Schema (as the OpenAPI 3.1 document has them) that input generation looks at. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
}

/** Strings that have broken parsers before: empty, half URLs, odd unicode, huge numbers, injection-looking text. */
export const NASTY_STRINGS = [
  "",
  " ",
  "http://",
  "https://",
  "http://[",
  "not a url",
  "http://127.0.0.1:1/hook",
  "https://[::1]/x",
  "\u0000",
  "\ud800",
  "💥",
  "../../etc/passwd",
  "'; DROP TABLE subscriptions; --",
  "%",
  "%zz",
  "9".repeat(400),
  "-1",
  "1e309",
  "null",
  "a".repeat(3000),
  "2025-13-45T99:99:99Z",
  "whsec_",
  "l1.1",
  "p0",
];

const garbage: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(...NASTY_STRINGS));

/**
 * Values for a schema: mostly of the right shape (so requests get past the first checks and
 * reach deeper code), now and then anything at all in a field's place.
 */
export function arbitraryFor(schema: JsonSchema | undefined, components: Record<string, JsonSchema>, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 6) return garbage;
  return fc.oneof({ weight: 12, arbitrary: shaped(schema, components, depth) }, { weight: 1, arbitrary: garbage });
}

function shaped(schema: JsonSchema, components: Record<string, JsonSchema>, depth: number): fc.Arbitrary<unknown> {
  const next = (inner: JsonSchema | undefined) => arbitraryFor(inner, components, depth + 1);
  if (schema.$ref) return shaped(components[schema.$ref.replace("#/components/schemas/", "")] ?? {}, components, depth);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((alternative) => shaped(alternative, components, depth)));
  if (schema.allOf) return shaped(Object.assign({}, ...schema.allOf), components, depth);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object": {
      const properties = schema.properties ?? {};
      const model = Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, next(value)]));
      const record = fc.record(model, { requiredKeys: (schema.required ?? []).filter((key) => key in properties) });
      // Now and then a field no schema has.
      return fc.tuple(record, fc.option(fc.tuple(fc.string({ maxLength: 8 }), garbage), { freq: 8 })).map(([value, extra]) =>
        extra ? { ...value, [extra[0]]: extra[1] } : value,
      );
    }
    case "array":
      return fc.array(next(schema.items), {
        minLength: Math.min(schema.minItems ?? 0, 3),
        maxLength: Math.min(schema.maxItems ?? 4, 4),
      });
    case "string":
      return stringFor(schema);
    case "integer":
      return fc.integer({ min: Math.max(schema.minimum ?? -10, -1e9) - 1, max: Math.min(schema.maximum ?? 10_000, 1e12) + 1 });
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    default:
      return garbage;
  }
}

function stringFor(schema: JsonSchema): fc.Arbitrary<string> {
  const options: fc.Arbitrary<string>[] = [fc.string({ maxLength: 20 }), fc.constantFrom(...NASTY_STRINGS)];
  if (schema.format === "uuid") options.push(fc.uuid());
  if (schema.format === "date-time") options.push(fc.date({ noInvalidDate: true }).map((date) => date.toISOString()));
  if (schema.format === "uri") options.push(fc.webUrl());
  if (schema.pattern) {
    try {
      options.push(fc.stringMatching(new RegExp(schema.pattern)));
    } catch {
      // a pattern fast-check cannot generate from: the other options still apply
    }
  }
  return fc.oneof(...options);
}
