import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { bearer, json, problems } from "../../core/http/openapi.js";

const OwnedSchema = z.object({ name: z.string(), group: z.string(), epoch: z.number().int(), since: z.string() });

export const ClusterSchema = z
  .object({
    leaseSeconds: z.number().int(),
    processes: z.array(
      z.object({
        id: z.string(),
        services: z.array(z.string()),
        host: z.string(),
        pid: z.number().int(),
        startedAt: z.string(),
        heartbeatAt: z.string(),
        live: z.boolean().openapi({ description: "Heart-beat within the lease time" }),
        owns: z.array(OwnedSchema),
      }),
    ),
    unowned: z.array(z.object({ name: z.string(), group: z.string() })).openapi({ description: "Units waiting for a process (none live, or moving)" }),
  })
  .openapi("Cluster");

export const clusterRoute = authorizedRoute({
  access: ["admin"],
  method: "get",
  path: "/v1/cluster",
  tags: ["operations"],
  summary: "Processes and the background work each owns",
  description: "Admin token. Every process that runs background work, its heartbeat, and the leases it holds with their epoch and since when.",
  security: bearer,
  responses: { 200: json(ClusterSchema, "The cluster"), ...problems() },
});
