import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Logger } from "../logger.js";
import type { Principal } from "../auth/principal.js";
import type { TraceContext } from "../trace-context.js";

export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    principal: Principal;
    /** W3C trace context of the request (a new root when none or a malformed one came). */
    trace: TraceContext;
  };
}

export type App = OpenAPIHono<AppEnv>;
