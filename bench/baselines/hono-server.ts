/**
 * The bare HTTP baseline: hono on @hono/node-server, one POST route that reads the JSON body and
 * answers a small JSON 202, as certflow's POST /v1/notifications does, and nothing else (no
 * auth, validation, broker or logging). Run as its own process, like the certflow process.
 */
import { randomUUID } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
let sequence = 0;

app.get("/readyz", (c) => c.json({ status: "ready" }));
app.post("/v1/notifications", async (c) => {
  await c.req.json();
  return c.json({ id: randomUUID(), sequence: ++sequence, duplicate: false }, 202);
});

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" });
// Nothing to finish: clients hold keep-alive sockets, so exit instead of waiting for them.
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
