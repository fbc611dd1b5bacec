import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { bearer, json, problems } from "../../core/http/openapi.js";

const NameParamSchema = z.object({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: "not a subscription name" })
    .openapi({ param: { name: "name", in: "path" } }),
});

export const rerunPrefillRoute = authorizedRoute({
  access: ["admin", "subscription"],
  method: "post",
  path: "/v1/subscriptions/{name}/prefill",
  tags: ["subscriptions"],
  summary: "Run a failed prefill again",
  description: "Admin or the subscription's own token. Only a failed prefill can be re-run; its status goes back to pending.",
  security: bearer,
  request: { params: NameParamSchema },
  responses: { 202: json(z.object({ status: z.literal("pending") }), "Queued"), ...problems(404, 409) },
});
