import { DRAIN_PULL_MAX, DRAIN_PULL_WAIT_SECONDS, ack, consumePipelined, createProducer, createSubscription, postBatch, pull, type Credential, type PulledMessage } from "./certflow-api.js";
import { isolationId } from "./env.js";
import { HttpClient } from "./http-client.js";
import type { ConsumerEvents, PeerFactory, QueuePeer } from "./peer.js";
import { rowsWritten } from "./rows-written.js";
import { startCertflow } from "./system-process.js";

/**
 * certflow as a peer: its own process (`services`; every service when absent, as `npm start`),
 * batches posted over HTTP, one loop per subscription whose every `POST .../pull` acks the
 * batch before and brings the next, two of them in flight (BENCH_CERTFLOW_SEPARATE_ACKS=1: a GET pull and a POST ack
 * per batch, one ack in flight while it pulls the next, as a client of older versions does).
 */
export function certflowPeer(services?: string): PeerFactory {
  return async (subscriptionCount) => {
    const system = await startCertflow({ id: isolationId("peer"), services, profileName: `peers-${subscriptionCount}` });
    const client = new HttpClient(system.url, subscriptionCount * 2 + 8);
    const producer = await createProducer(client, "bench-producer");
    const subscriptions: Credential[] = [];
    for (let index = 0; index < subscriptionCount; index++) subscriptions.push(await createSubscription(client, `bench-sub-${index}`));
    const peer: QueuePeer = {
      name: "certflow",
      pids: { certflow: system.child.pid },
      async publish(inputs) {
        const ids = await postBatch(client, producer, inputs);
        return ids.map((id, index) => ({ id, subject: inputs[index]!.subject }));
      },
      async consume(events) {
        let running = true;
        const loops = subscriptions.map((subscription, index) => (SEPARATE_ACKS ? pullThenAck : pullCarryingAcks)(client, subscription, index, events, () => running));
        return async () => {
          running = false;
          await Promise.all(loops);
        };
      },
      async rowsWritten() {
        await system.stop();
        return rowsWritten(system.id);
      },
      async close() {
        client.close();
        await system.destroy();
      },
    };
    return peer;
  };
}

const SEPARATE_ACKS = process.env.BENCH_CERTFLOW_SEPARATE_ACKS === "1";

/** Each pull carries the acks of the batch before, two pulls in flight (see consumePipelined). */
function pullCarryingAcks(client: HttpClient, subscription: Credential, index: number, events: ConsumerEvents, running: () => boolean) {
  return consumePipelined(client, subscription, {
    received(messages, at) {
      for (const message of messages) events.received(index, message.notification.id, message.notification.subject, at);
    },
    acked: (messages, at) => events.acked(index, published(messages), at),
    running,
  });
}

/** A GET pull and a POST ack per batch, one ack in flight while the next batch is pulled. */
async function pullThenAck(client: HttpClient, subscription: Credential, index: number, events: ConsumerEvents, running: () => boolean) {
  let acking: Promise<void> = Promise.resolve();
  while (running()) {
    const messages = await pull(client, subscription, DRAIN_PULL_MAX, DRAIN_PULL_WAIT_SECONDS);
    const at = performance.now();
    for (const message of messages) events.received(index, message.notification.id, message.notification.subject, at);
    await acking;
    if (messages.length > 0) acking = ack(client, subscription, messages).then(() => events.acked(index, published(messages), performance.now()));
  }
  await acking;
}

const published = (messages: readonly PulledMessage[]) => messages.map((message) => ({ id: message.notification.id, subject: message.notification.subject }));
