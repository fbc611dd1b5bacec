import type { App } from "./env.js";

export interface DocumentOptions {
  version: string;
}

type Document = ReturnType<App["getOpenAPI31Document"]>;
type JsonObject = Record<string, unknown>;

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;

/** Tags a route may name (or gets from its path); a tag not listed here is still declared, with a generic description. */
const TAG_DESCRIPTIONS: Record<string, string> = {
  producers: "Producer credentials (admin)",
  notifications: "Publish notifications and follow their causal chains",
  subscriptions: "Subscriptions: filters, delivery settings, tokens",
  messages: "Pull delivery: long-poll, ack, nack, reject",
  "dead letters": "Messages that could not be delivered: list and redrive",
  push: "Push delivery: signing secrets and the attempt log",
  prefill: "The current state first, then the live changes",
  certificates: "The certificate book: registration, history, validation",
  conversions: "Annual certificates converted into hourly ones",
  trades: "Transfers of certificates between owners",
  statistics: "Figures about the certificate book",
  commands: "Commands sent to the external registry, and their states",
  cluster: "Processes and the partitions each one owns",
};

/**
 * The API document as clients and linters read it. Route definitions give a summary, a
 * description and their schemas; what every operation needs the same way (an operationId, a
 * tag, the tag list) is filled in here, so a route added later only has to describe itself.
 */
export function buildOpenApiDocument(app: App, options: DocumentOptions): Document {
  const document = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "certflow",
      version: options.version,
      description:
        "Provisioning dispatcher for energy-certificate notifications. Errors are RFC 9457 problem+json with `code` and `requestId`.",
      contact: { name: "certflow maintainers" },
    },
    servers: [{ url: "http://localhost:8080", description: "`npm start` on this machine; use your deployment's address" }],
    security: [{ bearer: [] }],
  });
  completeOperations(document);
  // Webhooks are registered like routes, so their keys come out as paths; they are names.
  document.webhooks &&= Object.fromEntries(Object.entries(document.webhooks).map(([name, item]) => [name.replace(/^\//, ""), item]));
  documentByVariants(document);
  relaxDefaultedRequestFields(document);
  return document;
}

function completeOperations(document: Document): void {
  const used = new Set<string>();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = (item as Record<string, JsonObject | undefined>)[method];
      if (!operation) continue;
      operation.operationId ??= operationIdOf(method, path);
      if (!Array.isArray(operation.tags) || operation.tags.length === 0) operation.tags = [tagOf(path)];
      for (const tag of operation.tags as string[]) used.add(tag);
    }
  }
  document.tags = [...used].sort().map((name) => ({ name, description: TAG_DESCRIPTIONS[name] ?? `Operations under /v1/${name}` }));
}

/**
 * `GET /v1/subscriptions/{name}/dead-letters` -> `getSubscriptionsByNameDeadLetters`: unique per
 * method and path, stable, and predictable from the path alone.
 */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .split("/")
    .filter((segment) => segment !== "" && segment !== "v1")
    .flatMap((segment) => {
      const param = /^\{(.+)\}$/.exec(segment);
      return param ? ["by", ...param[1]!.split(/[^A-Za-z0-9]+/)] : segment.split(/[^A-Za-z0-9]+/);
    })
    .filter(Boolean);
  return [method.toLowerCase(), ...words.map((word) => word[0]!.toUpperCase() + word.slice(1))].join("");
}

function tagOf(path: string): string {
  return path.split("/").filter((segment) => segment !== "" && segment !== "v1")[0] ?? "operations";
}

/**
 * A schema validated in one pass but documented by its variants (`.openapi({oneOf, discriminator})`,
 * e.g. `NotificationInput`) keeps only the variants: the generic object it validates with would
 * loosen every variant's type.
 */
function documentByVariants(document: Document): void {
  for (const schema of Object.values((document.components?.schemas ?? {}) as Record<string, JsonObject>)) {
    if (!Array.isArray(schema.oneOf) || schema.properties === undefined) continue;
    for (const key of ["type", "properties", "required", "additionalProperties"]) delete schema[key];
  }
}

/**
 * A request field with a default may be left out, but openapi-typescript (by default) types a
 * property that has a `default` as always present, which is right for responses and wrong for
 * requests. In request bodies the default moves into the description.
 */
function relaxDefaultedRequestFields(document: Document): void {
  const schemas = (document.components?.schemas ?? {}) as Record<string, JsonObject>;
  const seen = new Set<JsonObject>();
  const visit = (node: unknown): void => {
    if (typeof node !== "object" || node === null || seen.has(node as JsonObject)) return;
    const schema = node as JsonObject;
    seen.add(schema);
    if (typeof schema.$ref === "string") {
      const target = schemas[schema.$ref.replace("#/components/schemas/", "")];
      if (target) visit(target);
    }
    const properties = schema.properties as Record<string, JsonObject> | undefined;
    for (const property of Object.values(properties ?? {})) {
      if ("default" in property) {
        const note = `Default: \`${JSON.stringify(property.default)}\`.`;
        property.description = property.description ? `${String(property.description)}. ${note}` : note;
        delete property.default;
      }
    }
    for (const value of Object.values(schema)) {
      if (Array.isArray(value)) value.forEach(visit);
      else visit(value);
    }
  };
  for (const item of Object.values(document.paths ?? {})) {
    for (const method of METHODS) {
      const body = (item as Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } } | undefined>)[method]
        ?.requestBody;
      for (const media of Object.values(body?.content ?? {})) visit(media.schema);
    }
  }
}
