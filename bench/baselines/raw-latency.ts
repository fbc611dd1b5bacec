import type { JsMsg } from "@nats-io/jetstream";
import { isolationId } from "../lib/env.js";
import { envelopeOf, notificationInput } from "../lib/payload.js";
import { LatencyTracker, runSteady, type SteadyLatency } from "../lib/steady-rate.js";
import { RawJetStream } from "./jetstream.js";

/** The steady-rate baseline: js.publish of the same envelopes to a durable pull consumer, publish to receive. */
export async function rawSteadyLatency(label: string, durationMs: number): Promise<SteadyLatency> {
  const raw = await RawJetStream.open(isolationId("raw_latency"));
  try {
    await raw.addDurable("bench-latency");
    const tracker = new LatencyTracker();
    const consumer = await raw.consume("bench-latency", 500, (message: JsMsg) => {
      const { subject } = message.json<{ subject: string }>();
      tracker.markReceived(subject, performance.now());
      message.ack();
    });
    try {
      return await runSteady({ label, prefix: `raw-lat-${Date.now().toString(36)}`, durationMs }, tracker, async (subjects) => {
        await raw.publishMany(subjects.map((subject, index) => envelopeOf(notificationInput(subject, index), "bench-producer")));
      });
    } finally {
      await consumer.stop();
    }
  } finally {
    await raw.destroy();
  }
}
