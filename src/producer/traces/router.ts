import type { RouteHandler } from "@hono/zod-openapi";
import type { Executor } from "../../core/db/schema.js";
import { notFound } from "../../core/errors.js";
import { createRouter } from "../../core/http/app.js";
import type { App, AppEnv } from "../../core/http/env.js";
import { traceTree } from "../../mom/journal/trace-tree.js";
import { traceTreeRoute } from "./routes.js";

const MAX_NODES = 10_000;

export function tracesRouter(db: Executor): App {
  const tree: RouteHandler<typeof traceTreeRoute, AppEnv> = async (c) => {
    const { correlationId } = c.req.valid("param");
    const roots = await traceTree(db, correlationId, MAX_NODES);
    if (roots.length === 0) throw notFound(`no notification with correlationId ${correlationId}`);
    return c.json({ correlationId, roots } as never, 200);
  };
  const router = createRouter();
  router.openapi(traceTreeRoute, tree);
  return router;
}
