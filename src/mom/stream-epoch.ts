import type { Executor } from "../core/db/schema.js";
import type { Broker } from "./broker.js";

/**
 * Stream positions kept in PostgreSQL belong to one incarnation of the stream. If the stream
 * was deleted and made again, its sequences restart and those positions would silently skip
 * or misfile notifications, so readers refuse to start instead.
 */
export async function checkStreamEpoch(db: Executor, broker: Broker): Promise<void> {
  const stream = await broker.stream();
  await db
    .insertInto("stream_epochs")
    .values({ stream: stream.name, created: stream.created })
    .onConflict((conflict) => conflict.column("stream").doNothing())
    .execute();
  const recorded = await db.selectFrom("stream_epochs").select("created").where("stream", "=", stream.name).executeTakeFirstOrThrow();
  if (recorded.created !== stream.created) {
    throw new Error(
      `NATS stream ${stream.name} was recreated (created ${stream.created}, the database knows the one created ${recorded.created}); ` +
        "its sequences restarted, so the recorded positions no longer apply. Point DATABASE_URL/DATABASE_SCHEMA at a fresh database, " +
        "or restore the original stream.",
    );
  }
}
