import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ERROR_STATUS } from "../../src/core/errors.js";
import { createProducer, createSubscription, issued, publish } from "../support/fixtures.js";
import { arbitraryFor, NASTY_STRINGS, type JsonSchema } from "../support/schema-arbitrary.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

/**
 * Drives every operation of the served OpenAPI document with generated requests: values of
 * the documented shapes and plain garbage in the path, query, headers and body, with each
 * kind of credential. Whatever comes in, the answer is never a 5xx, and every 4xx is
 * problem+json with a `code` of the vocabulary. FUZZ_SEED replays a failing run, FUZZ_RUNS
 * sets how many requests one run makes.
 */
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const KNOWN_CODES = Object.keys(ERROR_STATUS);
/** Long-polls are held up to `wait` seconds; the fuzzer keeps them short, valid or not. */
const WAIT_VALUES = ["0", "", "-1", "31", "0.5", "abc", "1e1", "null"];

interface Operation {
  method: string;
  path: string;
  parameters: Array<{ name: string; in: string; schema: JsonSchema }>;
  bodies: Record<string, JsonSchema>;
}

interface GeneratedRequest {
  operation: Operation;
  path: string;
  token: string | undefined;
  contentType: string | undefined;
  body: string | undefined;
}

let system: TestSystem;
let operations: Operation[];
let components: Record<string, JsonSchema>;
const credentials: Array<string | undefined> = [undefined, ADMIN_TOKEN];
const knownIds: string[] = [];
const knownNames = ["fuzz-own", "fuzz-push"];

beforeAll(async () => {
  system = await startTestSystem();
  const producer = await createProducer(system.api);
  const own = await createSubscription(system.api, { name: "fuzz-own" });
  await createSubscription(system.api, { name: "fuzz-push", delivery: { mode: "push", url: "https://93.184.216.34/hook" } });
  credentials.push(producer, own.token, "cfs_unknown-token-000000000000000000000000");
  knownIds.push((await publish(system.api, producer, issued("fuzz-cert-1"))).id, "fuzz-cert-1");
  const document = (await system.api.get("/openapi.json")).body;
  components = document.components.schemas;
  operations = Object.entries(document.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      parameters: operation.parameters ?? [],
      bodies: Object.fromEntries(
        Object.entries((operation.requestBody?.content ?? {}) as Record<string, { schema: JsonSchema }>).map(([type, content]) => [type, content.schema]),
      ),
    })),
  );
});
afterAll(() => system.destroy());

function pathValue(name: string): fc.Arbitrary<string> {
  const known = name === "name" ? knownNames : knownIds;
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...known) },
    { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 70 }) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom(...NASTY_STRINGS.filter((value) => value !== "")) },
  );
}

function queryValue(parameter: Operation["parameters"][number]): fc.Arbitrary<string> {
  if (parameter.name === "wait") return fc.constantFrom(...WAIT_VALUES);
  return fc.oneof(
    { weight: 3, arbitrary: arbitraryFor(parameter.schema, components).map((value) => (typeof value === "string" ? value : JSON.stringify(value))) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  );
}

function bodyFor(operation: Operation): fc.Arbitrary<{ contentType: string | undefined; body: string | undefined }> {
  const declared = Object.entries(operation.bodies).map(([contentType, schema]) =>
    (contentType === "text/csv"
      ? fc.oneof(fc.string(), fc.array(fc.constantFrom("timestamp,value,unit", "2025-01-01T00:00:00Z,1.5,kWh", "x,y", ",,,", "2025-01-01T01:00:00Z,-1,MWh"), { maxLength: 6 }).map((lines) => lines.join("\n")))
      : arbitraryFor(schema, components).map((value) => JSON.stringify(value) ?? "null")
    ).map((body) => ({ contentType, body })),
  );
  const junk = [
    fc.constant({ contentType: undefined, body: undefined }),
    fc.jsonValue({ maxDepth: 3 }).map((value) => ({ contentType: "application/json", body: JSON.stringify(value) })),
    fc.string({ maxLength: 50 }).map((body) => ({ contentType: "application/json", body })),
    fc.tuple(fc.constantFrom("text/plain", "application/xml", "multipart/form-data", "application/json; charset=latin1", "text/csv"), fc.string()).map(
      ([contentType, body]) => ({ contentType, body }),
    ),
  ];
  return declared.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.oneof(...declared) }, { weight: 1, arbitrary: fc.oneof(...junk) }) : fc.oneof(...junk);
}

/** Lone surrogates cannot be percent-encoded; they become U+FFFD as any UTF-8 client would send them. */
const wellFormed = (value: string) => Buffer.from(value, "utf8").toString("utf8");

function requestFor(operation: Operation): fc.Arbitrary<GeneratedRequest> {
  const pathParameters = operation.parameters.filter((parameter) => parameter.in === "path");
  const queryParameters = operation.parameters.filter((parameter) => parameter.in === "query");
  const pathValues = fc.tuple(...pathParameters.map((parameter) => pathValue(parameter.name)));
  const query = fc.tuple(
    ...queryParameters.map((parameter) => fc.option(queryValue(parameter), { freq: 2 }).map((value) => [parameter.name, value] as const)),
  );
  const extraQuery = fc.option(fc.tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 12 })), { freq: 6 });
  return fc.record({ pathValues, query, extraQuery, token: fc.constantFrom(...credentials), body: bodyFor(operation) }).map((generated) => {
    let path = operation.path;
    pathParameters.forEach((parameter, index) => (path = path.replace(`{${parameter.name}}`, encodeURIComponent(wellFormed(generated.pathValues[index]!)))));
    const search = new URLSearchParams();
    for (const [name, value] of generated.query) if (value !== null) search.append(name, value);
    if (generated.extraQuery) search.append(...generated.extraQuery);
    const queryString = search.toString();
    return {
      operation,
      path: queryString ? `${path}?${queryString}` : path,
      token: generated.token,
      contentType: generated.body.contentType,
      body: operation.method === "GET" || operation.method === "DELETE" ? undefined : generated.body.body,
    };
  });
}

it(`answers every generated request without a 5xx, and every 4xx with a problem code (seed ${SEED})`, { timeout: 600_000 }, async () => {
  expect(operations.length).toBeGreaterThan(30);
  const arbitrary = fc.constantFrom(...operations).chain(requestFor);
  let sent = 0;
  try {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (request) => {
        sent++;
        const response = await system.api.request(request.operation.method, request.path, {
          token: request.token,
          ...(request.body !== undefined ? { rawBody: request.body } : {}),
          headers: request.contentType ? { "content-type": request.contentType } : {},
        });
        const what = `${request.operation.method} ${request.path} (${request.contentType ?? "no body"}: ${request.body?.slice(0, 300)}) -> ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`;
        expect(response.status, what).toBeLessThan(500);
        if (response.status >= 400) {
          expect(response.headers.get("content-type"), what).toContain("application/problem+json");
          expect(KNOWN_CODES, what).toContain(response.body.code);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: false },
    );
  } catch (error) {
    throw new Error(`fuzzing failed; replay with FUZZ_SEED=${SEED} (${sent} requests sent)\n${(error as Error).message}`);
  }
  expect(sent).toBeGreaterThanOrEqual(RUNS);
});
