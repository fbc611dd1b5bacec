import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { PageQuerySchema, bearer, json, jsonBody, problems } from "../../core/http/openapi.js";

export const ProducerNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit" });

export const ProducerSchema = z
  .object({ id: z.uuid(), name: z.string(), description: z.string().nullable(), createdAt: z.string() })
  .openapi("Producer");

export const registerProducerRoute = authorizedRoute({
  access: ["admin"],
  method: "post",
  path: "/v1/producers",
  tags: ["producers"],
  summary: "Register a producer and issue its token",
  description: "Admin token. The token is returned once; its name becomes `source.name` of everything it publishes.",
  security: bearer,
  request: {
    body: jsonBody(z.strictObject({ name: ProducerNameSchema, description: z.string().max(500).optional() })),
  },
  responses: {
    201: json(z.object({ producer: ProducerSchema, token: z.string() }), "Registered"),
    ...problems(409),
  },
});

export const listProducersRoute = authorizedRoute({
  access: ["admin"],
  method: "get",
  path: "/v1/producers",
  tags: ["producers"],
  summary: "List producers",
  description: "Admin token. By name; tokens are never shown again.",
  security: bearer,
  request: { query: PageQuerySchema },
  responses: {
    200: json(z.object({ data: z.array(ProducerSchema), nextCursor: z.string().nullable() }), "A page of producers"),
    ...problems(),
  },
});

export const rotateProducerTokenRoute = authorizedRoute({
  access: ["admin"],
  method: "post",
  path: "/v1/producers/{name}/token",
  tags: ["producers"],
  summary: "Issue a new token for a producer; the old one stops working",
  description: "Admin token. The way to get a token for a producer that exists (a repeated register answers 409).",
  security: bearer,
  request: { params: z.object({ name: ProducerNameSchema.openapi({ param: { name: "name", in: "path" } }) }) },
  responses: { 200: json(z.object({ token: z.string() }), "The new token, shown once"), ...problems(404) },
});

export const revokeProducerRoute = authorizedRoute({
  access: ["admin"],
  method: "delete",
  path: "/v1/producers/{name}",
  tags: ["producers"],
  summary: "Revoke a producer's token",
  description: "Admin token. Deletes the producer; its token stops working. What it published stays.",
  security: bearer,
  request: { params: z.object({ name: ProducerNameSchema }) },
  responses: { 204: { description: "Revoked" }, ...problems(404) },
});
