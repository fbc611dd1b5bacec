import type { JsMsg } from "@nats-io/jetstream";
import { isolationId } from "../lib/env.js";
import { envelopeOf } from "../lib/payload.js";
import type { PeerFactory, QueuePeer } from "../lib/peer.js";
import { RawJetStream } from "./jetstream.js";

/** What every consumer asks for at once, as certflow's pull loop asks for `max`. */
const PULL_BATCH = 500;

/** Raw JetStream as a peer: js.publish pipelined, one durable pull consumer per subscription, each message acked. */
export const jetStreamPeer: PeerFactory = async (subscriptionCount) => {
  const raw = await RawJetStream.open(isolationId("peer_raw"));
  const names = Array.from({ length: subscriptionCount }, (_, index) => `bench-consumer-${index}`);
  for (const name of names) await raw.addDurable(name);
  const peer: QueuePeer = {
    name: "raw JetStream",
    pids: {},
    async publish(inputs) {
      const envelopes = inputs.map((input) => envelopeOf(input, "bench-producer"));
      await raw.publishMany(envelopes);
      return envelopes.map((envelope) => ({ id: envelope.id, subject: envelope.subject }));
    },
    async consume(events) {
      const stoppers = await Promise.all(
        names.map((name, index) =>
          raw.consume(name, PULL_BATCH, (message: JsMsg) => {
            const { id, subject } = message.json<{ id: string; subject: string }>();
            const at = performance.now();
            events.received(index, id, subject, at);
            // Acks are asynchronous in NATS; the run's end waits for the server to have them all (the flush below).
            message.ack();
            events.acked(index, [{ id, subject }], at);
          }),
        ),
      );
      return async () => {
        await raw.nc.flush();
        for (const consumer of stoppers) await consumer.stop();
      };
    },
    close: () => raw.destroy(),
  };
  return peer;
};
