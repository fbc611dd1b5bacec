import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, expect, it } from "vitest";
import { dropIsolation, isolation, NATS_URL, startTestSystem, type Isolation } from "../support/system.js";

const isolations: Isolation[] = [];
afterEach(async () => {
  for (const iso of isolations.splice(0)) await dropIsolation(iso);
});

async function streamConfig(iso: Isolation) {
  const nc = await connect({ servers: NATS_URL });
  try {
    return (await (await jetstreamManager(nc)).streams.info(`${iso.id}_NOTIFICATIONS`)).config;
  } finally {
    await nc.close();
  }
}

it("updates a stream made with other settings where JetStream allows it", async () => {
  const iso = isolation({ CERTFLOW_STREAM_MAX_AGE_HOURS: "24", CERTFLOW_DEDUP_WINDOW_SECONDS: "60" });
  isolations.push(iso);
  await (await startTestSystem({ isolation: iso })).stop();
  const changed = await startTestSystem({ isolation: iso, env: { CERTFLOW_STREAM_MAX_AGE_HOURS: "48", CERTFLOW_DEDUP_WINDOW_SECONDS: "120" } });
  await changed.stop();
  await changed.db.destroy();
  const config = await streamConfig(iso);
  expect(config.max_age).toBe(48 * 3600 * 1e9);
  expect(config.duplicate_window).toBe(120 * 1e9);
});

it("refuses at start-up, saying what to do, what cannot change in place: the partition count, or replicas a single server cannot hold", async () => {
  const iso = isolation({ CERTFLOW_PARTITIONS: "4" });
  isolations.push(iso);
  const first = await startTestSystem({ isolation: iso });
  await first.stop();
  await first.db.destroy();
  await expect(startTestSystem({ isolation: iso, env: { CERTFLOW_PARTITIONS: "8" } })).rejects.toThrow(
    /made with 4 partitions and CERTFLOW_PARTITIONS is 8; set CERTFLOW_PARTITIONS=4/,
  );
  await expect(startTestSystem({ isolation: iso, env: { CERTFLOW_STREAM_REPLICAS: "3" } })).rejects.toThrow(
    /3 replicas need a NATS cluster of at least 3 JetStream servers/,
  );
});
