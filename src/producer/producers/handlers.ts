import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../core/http/env.js";
import { decodeCursor, pageOf } from "../../core/http/openapi.js";
import type { ProducerRecord } from "./producer-store.js";
import type { Producers } from "./producers.js";
import type { listProducersRoute, registerProducerRoute, revokeProducerRoute, rotateProducerTokenRoute } from "./routes.js";

const present = (producer: ProducerRecord) => ({ ...producer, createdAt: producer.createdAt.toISOString() });

export function producerHandlers(producers: Producers) {
  const register: RouteHandler<typeof registerProducerRoute, AppEnv> = async (c) => {
    const body = c.req.valid("json");
    const { producer, token } = await producers.register(body.name, body.description);
    c.get("logger").info({ producer: producer.name }, "producer registered");
    return c.json({ producer: present(producer), token }, 201);
  };

  const list: RouteHandler<typeof listProducersRoute, AppEnv> = async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ name: z.string() }));
    const page = await producers.list(limit + 1, after?.name);
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ name: last.name }));
    return c.json({ data: items.map(present), nextCursor }, 200);
  };

  const revoke: RouteHandler<typeof revokeProducerRoute, AppEnv> = async (c) => {
    await producers.revoke(c.req.valid("param").name);
    return c.body(null, 204);
  };

  const rotateToken: RouteHandler<typeof rotateProducerTokenRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    const token = await producers.rotateToken(name);
    c.get("logger").info({ producer: name }, "producer token issued");
    return c.json({ token }, 200);
  };

  return { register, list, revoke, rotateToken };
}
