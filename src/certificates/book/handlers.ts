import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../core/http/env.js";
import { decodeCursor, pageOf } from "../../core/http/openapi.js";
import type { StoredNotification } from "../../core/notifications/envelope.js";
import type { NotificationJournal } from "../../mom/journal/journal.js";
import type { historyRoute } from "./routes.js";

export function certificateHandlers(journal: NotificationJournal) {
  const history: RouteHandler<typeof historyRoute, AppEnv> = async (c) => {
    const { id } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ seq: z.number().int() }));
    const page = await journal.history(id, limit + 1, after?.seq ?? 0);
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ seq: last.seq }));
    const notifications = items.map((entry) => ({
      sequence: entry.seq,
      acceptedAt: entry.acceptedAt.toISOString(),
      notification: JSON.parse(entry.json) as StoredNotification,
    }));
    const removedBefore = await journal.removedBefore("journal");
    // The first page starts at the beginning only if its first change is the certificate's first version.
    const first = notifications[0]?.notification.data as { version?: number } | undefined;
    const truncated = removedBefore !== null && !after && (first === undefined || (first.version ?? 1) > 1);
    return c.json({ certificateId: id, notifications, nextCursor, pastRetention: { truncated, removedBefore: removedBefore?.toISOString() ?? null } }, 200);
  };
  return { history };
}
