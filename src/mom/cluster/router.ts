import type { RouteHandler } from "@hono/zod-openapi";
import { createRouter } from "../../core/http/app.js";
import type { App, AppEnv } from "../../core/http/env.js";
import type { WorkLeases } from "./leases.js";
import { clusterRoute } from "./routes.js";

export interface ClusterView {
  leases: WorkLeases;
  leaseSeconds: number;
}

export function clusterRouter(view: ClusterView): App {
  const show: RouteHandler<typeof clusterRoute, AppEnv> = async (c) => {
    const [processes, leases] = await Promise.all([view.leases.processes(), view.leases.leases()]);
    const now = Date.now();
    const held = (lease: (typeof leases)[number]) => lease.owner !== null && lease.expiresAt !== null && lease.expiresAt.getTime() > now;
    return c.json(
      {
        leaseSeconds: view.leaseSeconds,
        processes: processes.map((process) => ({
          id: process.id,
          services: [...process.services],
          host: process.host,
          pid: process.pid,
          startedAt: process.startedAt.toISOString(),
          heartbeatAt: process.heartbeatAt.toISOString(),
          live: now - process.heartbeatAt.getTime() < view.leaseSeconds * 1000,
          owns: leases
            .filter((lease) => lease.owner === process.id && held(lease))
            .map((lease) => ({ name: lease.name, group: lease.group, epoch: lease.epoch, since: lease.acquiredAt!.toISOString() })),
        })),
        unowned: leases.filter((lease) => !held(lease)).map((lease) => ({ name: lease.name, group: lease.group })),
      },
      200,
    );
  };
  const router = createRouter();
  router.openapi(clusterRoute, show);
  return router;
}
