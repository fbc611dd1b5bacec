import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Logger } from "../logger.js";
import type { Principal } from "../auth/principal.js";

export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    principal: Principal;
  };
}

export type App = OpenAPIHono<AppEnv>;
