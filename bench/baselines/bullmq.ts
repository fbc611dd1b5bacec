import { Queue, Worker, type ConnectionOptions, type Job } from "bullmq";
import type { Notification } from "../../src/core/notifications/envelope.js";
import { deferCleanup } from "../lib/cleanup.js";
import { isolationId } from "../lib/env.js";
import { envelopeOf } from "../lib/payload.js";
import type { PeerFactory, QueuePeer } from "../lib/peer.js";

export const REDIS_URL = new URL(process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379");
/**
 * Jobs each worker runs at once. BullMQ hands out one job per slot (batches are a paid
 * feature), so throughput comes from concurrency, as its documentation advises.
 */
const WORKER_CONCURRENCY = Number(process.env.BENCH_BULLMQ_CONCURRENCY ?? 100);

/**
 * BullMQ on Redis as a peer: one queue per subscription (fan-out by the producer, with addBulk),
 * one worker per queue; a job counts as acked once BullMQ reports it completed. Jobs are
 * removed on completion, as BullMQ recommends for high volumes.
 */
export const bullMqPeer: PeerFactory = async (subscriptionCount) => {
  const connection: ConnectionOptions = { host: REDIS_URL.hostname, port: Number(REDIS_URL.port || 6379), maxRetriesPerRequest: null };
  const prefix = isolationId("bullmq");
  const queues = Array.from({ length: subscriptionCount }, (_, index) => new Queue<Notification>(`bench-sub-${index}`, { connection, prefix }));
  const workers: Worker<Notification>[] = [];
  const undo = deferCleanup(async () => {
    await Promise.all(workers.map((worker) => worker.close()));
    for (const queue of queues) {
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    }
  });
  const peer: QueuePeer = {
    name: "BullMQ",
    pids: {},
    async publish(inputs) {
      const envelopes = inputs.map((input) => envelopeOf(input, "bench-producer"));
      const jobs = envelopes.map((envelope) => ({ name: "notification", data: envelope, opts: { removeOnComplete: true, removeOnFail: 1000 } }));
      await Promise.all(queues.map((queue) => queue.addBulk(jobs)));
      return envelopes.map((envelope) => ({ id: envelope.id, subject: envelope.subject }));
    },
    async consume(events) {
      for (const [index, queue] of queues.entries()) {
        const worker = new Worker<Notification>(
          queue.name,
          async (job: Job<Notification>) => events.received(index, job.data.id, job.data.subject, performance.now()),
          { connection, prefix, concurrency: WORKER_CONCURRENCY },
        );
        worker.on("completed", (job) => events.acked(index, [{ id: job.data.id, subject: job.data.subject }], performance.now()));
        worker.on("error", (error) => console.error(`  BullMQ worker: ${error.message}`));
        workers.push(worker);
      }
      await Promise.all(workers.map((worker) => worker.waitUntilReady()));
      return async () => {
        await Promise.all(workers.map((worker) => worker.close()));
        workers.length = 0;
      };
    },
    close: undo,
  };
  return peer;
};

/** Whether Redis answers (the peers benchmark skips BullMQ, saying so, when it does not). */
export async function redisAnswers(): Promise<boolean> {
  const { createConnection } = await import("node:net");
  return new Promise((resolve) => {
    const socket = createConnection({ host: REDIS_URL.hostname, port: Number(REDIS_URL.port || 6379) });
    socket.setTimeout(1000);
    socket.once("connect", () => (socket.end(), resolve(true)));
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => (socket.destroy(), resolve(false)));
  });
}
