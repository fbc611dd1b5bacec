import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublishAcks } from "../../src/mom/publish-acks.js";
import { NATS_URL } from "../support/system.js";

/** The broker's publish path against the real server: a stream of the test's own. */
describe("PublishAcks", () => {
  const stream = `pubacks_${process.pid}_${Date.now().toString(36)}`;
  let nc: NatsConnection;
  let acks: PublishAcks;
  const data = new TextEncoder().encode("{}");

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], duplicate_window: 60_000_000_000 });
    acks = new PublishAcks(nc, 10_000);
  });
  afterAll(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => false);
    await nc.drain();
    acks.close();
  });

  it("answers each publish with its stream sequence, and a repeated id as a duplicate of the first", async () => {
    const [first, second, again] = await Promise.all([
      acks.publish(`${stream}.a`, data, "id-1"),
      acks.publish(`${stream}.b`, data, "id-2"),
      acks.publish(`${stream}.a`, data, "id-1"),
    ]);
    expect(first).toEqual({ seq: 1, duplicate: false });
    expect(second).toEqual({ seq: 2, duplicate: false });
    expect(again).toEqual({ seq: 1, duplicate: true });
  });

  it("refuses a publish that no stream stores, saying so", async () => {
    await expect(acks.publish(`nothing_${stream}.x`, data, "id-3")).rejects.toThrow(/no JetStream stream answered/);
  });

  it("fails what is still waiting when told the connection dropped", async () => {
    const other = await connect({ servers: NATS_URL });
    const lonely = new PublishAcks(other, 10_000);
    try {
      // A subject someone listens on but never answers: the publish waits.
      other.subscribe(`quiet_${stream}`);
      await other.flush();
      const waiting = lonely.publish(`quiet_${stream}`, data, "id-4");
      lonely.failAll(new Error("the NATS connection was lost"));
      await expect(waiting).rejects.toThrow("the NATS connection was lost");
    } finally {
      await other.drain();
      lonely.close();
    }
  });
});
