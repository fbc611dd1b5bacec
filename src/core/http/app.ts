import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { routePath } from "hono/route";
import { AppError, validationError } from "../errors.js";
import { uuidv7 } from "../ids.js";
import { NOTIFICATION_INPUT_VARIANTS } from "../notifications/envelope.js";
import type { Logger } from "../logger.js";
import { traceContextOf } from "../trace-context.js";
import type { Metrics } from "../metrics.js";
import type { CredentialResolver } from "../auth/credentials.js";
import type { App, AppEnv } from "./env.js";
import { problemResponse, toAppError } from "./problem.js";
import { tooLargeToDrain } from "./unread-body.js";

export interface BaseAppOptions {
  logger: Logger;
  metrics: Metrics;
  maxBodyBytes: number;
}

export interface HttpAppOptions extends BaseAppOptions {
  credentials: CredentialResolver;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A router for one resource: same validation hook and environment as the app it is mounted on. */
export function createRouter(): App {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error);
    },
  });
}

/** certflow's HTTP app: the base app, with certflow's credentials checked on every `/v1` route. */
export function createHttpApp(options: HttpAppOptions): App {
  const app = createBaseApp(options);
  app.use("/v1/*", authenticate(options.credentials));
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  for (const [name, schema] of NOTIFICATION_INPUT_VARIANTS) app.openAPIRegistry.register(name, schema);
  return app;
}

/**
 * Request ids, logging, the body limit on `/v1`, the one error handler and the not-found answer,
 * without certflow's credentials: also the base of apps that check their own (the registry emulator).
 */
export function createBaseApp(options: BaseAppOptions): App {
  const app = createRouter();
  app.use("*", requestContext(options.logger, options.metrics));
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: () => {
        throw new AppError("payload_too_large", `the body exceeds ${options.maxBodyBytes} bytes; send smaller batches`);
      },
    }),
  );

  app.onError((error, c) => {
    const appError = toAppError(error);
    if (appError.code === "internal") c.get("logger").error({ err: error }, "request failed");
    return problemResponse(c, appError);
  });
  app.notFound((c) => problemResponse(c, new AppError("not_found", `no route for ${c.req.method} ${c.req.path}`)));
  return app;
}

function requestContext(logger: Logger, metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : uuidv7();
    const trace = traceContextOf(c.req.header("traceparent"), c.req.header("tracestate"));
    const requestLogger = logger.child({ requestId, traceId: trace.traceId });
    c.set("requestId", requestId);
    c.set("trace", trace);
    c.set("logger", requestLogger);
    await next();
    c.header("x-request-id", requestId);
    if (c.res.status >= 400 && tooLargeToDrain(c.req.header("content-length"))) c.header("connection", "close");
    const seconds = (performance.now() - started) / 1000;
    const route = routePath(c, -1);
    metrics.httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
    requestLogger.info(
      { method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round(seconds * 1e4) / 10 },
      "request",
    );
  };
}

/** The request's bearer token; a missing or malformed Authorization header is a 401 that says what to send. */
export function bearerToken(c: Context<AppEnv>): string {
  const header = c.req.header("authorization");
  if (!header) throw new AppError("unauthorized", "send Authorization: Bearer <token>");
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new AppError("unauthorized", "the Authorization header must be 'Bearer <token>'");
  return match[1]!;
}

function authenticate(credentials: CredentialResolver): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await credentials.resolve(bearerToken(c));
    if (!principal) throw new AppError("unauthorized", "the token is not known; check it or ask an operator for a new one");
    c.set("principal", principal);
    await next();
  };
}
