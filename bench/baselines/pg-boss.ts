import PgBoss from "pg-boss";
import type { Notification } from "../../src/core/notifications/envelope.js";
import { deferCleanup, dropSchema } from "../lib/cleanup.js";
import { DATABASE_URL, isolationId } from "../lib/env.js";
import { envelopeOf } from "../lib/payload.js";
import type { PeerFactory, Published, QueuePeer } from "../lib/peer.js";
import { rowsWritten } from "../lib/rows-written.js";
import { sleep } from "../lib/system-process.js";

/** Jobs fetched at once, as certflow's pull loop asks for `max`. */
const FETCH_BATCH = 500;
/** pg-boss's shortest polling interval (its workers refuse less): how long an empty fetch waits unless woken. */
const POLL_MS = 500;

/**
 * pg-boss on the same PostgreSQL as certflow, in a schema of its own: one queue per
 * subscription, jobs inserted in bulk (`insert`, one statement per batch for every queue), and
 * per queue the same client loop as certflow's: fetch a batch (`batchSize`), complete it while
 * fetching the next. An empty fetch waits for the next publish of this process, or pg-boss's
 * polling interval: the wake-up its own workers get from `notifyWorker`.
 */
export const pgBossPeer: PeerFactory = async (subscriptionCount) => {
  const schema = isolationId("pgboss");
  const boss = new PgBoss({ connectionString: DATABASE_URL, schema, max: subscriptionCount * 2 + 4, schedule: false });
  boss.on("error", (error) => console.error(`  pg-boss: ${(error as Error).message}`));
  const undo = deferCleanup(async () => {
    await boss.stop({ graceful: false, wait: true }).catch(() => {});
    await dropSchema(schema);
  });
  await boss.start();
  const queues = Array.from({ length: subscriptionCount }, (_, index) => `bench-sub-${index}`);
  for (const queue of queues) await boss.createQueue(queue);
  let wakeAll: () => void = () => {};
  let woken = new Promise<void>((resolve) => (wakeAll = resolve));
  const wake = () => {
    const resolve = wakeAll;
    woken = new Promise<void>((next) => (wakeAll = next));
    resolve();
  };
  let stopped = false;
  const peer: QueuePeer = {
    name: "pg-boss",
    pids: {},
    async publish(inputs) {
      const envelopes = inputs.map((input) => envelopeOf(input, "bench-producer"));
      await boss.insert(queues.flatMap((name) => envelopes.map((data) => ({ name, data }))));
      wake();
      return envelopes.map((envelope) => ({ id: envelope.id, subject: envelope.subject }));
    },
    async consume(events) {
      let running = true;
      const loops = queues.map(async (name, index) => {
        let completing: Promise<void> = Promise.resolve();
        while (running) {
          const waiting = woken;
          const jobs = await boss.fetch<Notification>(name, { batchSize: FETCH_BATCH });
          const at = performance.now();
          for (const job of jobs) events.received(index, job.data.id, job.data.subject, at);
          await completing;
          if (jobs.length === 0) {
            await Promise.race([waiting, sleep(POLL_MS)]);
            continue;
          }
          const done: Published[] = jobs.map((job) => ({ id: job.data.id, subject: job.data.subject }));
          completing = boss.complete(name, jobs.map((job) => job.id)).then(() => events.acked(index, done, performance.now()));
        }
        await completing;
      });
      return async () => {
        running = false;
        wake();
        await Promise.all(loops);
      };
    },
    async rowsWritten() {
      if (!stopped) await boss.stop({ graceful: true, wait: true });
      stopped = true;
      return rowsWritten(schema);
    },
    close: undo,
  };
  return peer;
};
