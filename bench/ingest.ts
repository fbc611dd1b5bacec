import { RawJetStream } from "./baselines/jetstream.js";
import { createProducer, postBatch, type Credential } from "./lib/certflow-api.js";
import { ROUNDS, isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { bestRound, chunk, measure, type Measurement } from "./lib/measure.js";
import { envelopeOf, notificationInput, subjectOf, type NotificationInput } from "./lib/payload.js";
import { closedLoop, progress } from "./lib/progress.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { startCertflow, startNodeProcess, type CertflowProcess, type NodeProcess } from "./lib/system-process.js";

const BATCH_SIZE = 1000;
/** Batches in flight at once, on both sides (certflow publishes each batch pipelined, as the baseline does). */
const BATCHES_IN_FLIGHT = 4;
/** Single requests in flight, on both sides, over as many keep-alive connections. */
const CONCURRENCY = 32;
/**
 * The ingest figures measure the accept path, so the certflow process runs the producer
 * service only (the raw baseline journals nothing either); BENCH_INGEST_SERVICES=producer,dispatcher,consumer
 * measures it beside the dispatcher instead.
 */
const SERVICES = process.env.BENCH_INGEST_SERVICES ?? "producer";

export async function ingest(): Promise<Figure[]> {
  const batchTotal = scaled(30_000, { min: 2 * BATCH_SIZE, step: BATCH_SIZE });
  const singleTotal = scaled(15_000, { min: 1_000, step: 100 });
  const warmup = { batches: 2, singles: Math.min(2_000, singleTotal) };
  console.log(
    `ingest: ${batchTotal} notifications in batches of ${BATCH_SIZE} (${BATCHES_IN_FLIGHT} in flight), ` +
      `${singleTotal} single requests (${CONCURRENCY} in flight), ${ROUNDS} round(s) each, certflow SERVICES=${SERVICES}`,
  );

  let certflow: CertflowProcess | undefined;
  let hono: NodeProcess | undefined;
  let raw: RawJetStream | undefined;
  const clients: HttpClient[] = [];
  try {
    certflow = await startCertflow({ id: isolationId("ingest"), services: SERVICES, profileName: "ingest" });
    hono = await startNodeProcess({ label: "hono", script: "bench/baselines/hono-server.ts", readyPath: "/readyz", env: {} });
    raw = await RawJetStream.open(isolationId("ingest_raw"));
    const api = new HttpClient(certflow.url, CONCURRENCY);
    const bare = new HttpClient(hono.url, CONCURRENCY);
    clients.push(api, bare);
    const producer = await createProducer(api, "bench-producer");
    const pids = { certflow: certflow.child.pid, hono: hono.child.pid };
    let tag = 0;
    const inputs = (count: number, withIds = false) => {
      const prefix = `ingest-${tag++}`;
      return Array.from({ length: count }, (_, index) => notificationInput(subjectOf(prefix, index), index, withIds));
    };

    // Warm-up: JIT, connection pools, credential cache, stream files; not measured.
    console.log("  warming up");
    await certflowBatches(api, producer, inputs(warmup.batches * BATCH_SIZE), "warm-up");
    await rawBatches(raw, producer.name, inputs(warmup.batches * BATCH_SIZE), "warm-up");
    await singles(api, producer, inputs(warmup.singles), "warm-up");
    await singles(bare, producer, inputs(warmup.singles), "warm-up");

    const batch = { certflow: [] as Measurement[], certflowIds: [] as Measurement[], raw: [] as Measurement[] };
    const single = { certflow: [] as Measurement[], hono: [] as Measurement[] };
    for (let round = 1; round <= ROUNDS; round++) {
      const of = `round ${round}/${ROUNDS}`;
      // Inputs are made before each measurement, so only sending them is timed.
      const forCertflow = inputs(batchTotal);
      const forRaw = inputs(batchTotal);
      const withIds = inputs(batchTotal, true);
      const singlesCertflow = inputs(singleTotal);
      const singlesBare = inputs(singleTotal);
      batch.certflow.push(await measure(pids, () => certflowBatches(api, producer, forCertflow, `certflow batch, ${of}`)));
      batch.raw.push(await measure(pids, () => rawBatches(raw!, producer.name, forRaw, `raw js.publish, ${of}`)));
      batch.certflowIds.push(await measure(pids, () => certflowBatches(api, producer, withIds, `certflow batch with producer ids, ${of}`)));
      single.certflow.push(await measure(pids, () => singles(api, producer, singlesCertflow, `certflow single POST, ${of}`)));
      single.hono.push(await measure(pids, () => singles(bare, producer, singlesBare, `bare hono POST, ${of}`)));
    }

    const storedBytes = await storedMessageBytes(raw, certflow.stream);
    const rawBytes = JSON.stringify(envelopeOf(inputs(1)[0]!, producer.name)).length;
    const rates = (rounds: Measurement[]) => rounds.map((round) => Math.round(round.rate));
    const figures = [
      figure({
        benchmark: "ingest",
        name: "ingest batch POST (1000/batch), server ids",
        unit: "notifications/s",
        certflow: bestRound(batch.certflow).rate,
        baseline: bestRound(batch.raw).rate,
        baselineName: "raw js.publish, pipelined",
        better: "higher",
        details: {
          notifications: batchTotal,
          batchesInFlight: BATCHES_IN_FLIGHT,
          certflowServices: SERVICES,
          envelopeBytes: { certflow: storedBytes, baseline: rawBytes },
          roundsCertflow: rates(batch.certflow),
          roundsBaseline: rates(batch.raw),
          cpuCertflow: bestRound(batch.certflow).cpu,
          cpuBaseline: bestRound(batch.raw).cpu,
        },
      }),
      figure({
        benchmark: "ingest",
        name: "ingest batch POST (1000/batch), producer ids",
        unit: "notifications/s",
        certflow: bestRound(batch.certflowIds).rate,
        baseline: bestRound(batch.raw).rate,
        baselineName: "raw js.publish, pipelined",
        better: "higher",
        details: {
          notifications: batchTotal,
          note: "each item carries an id: certflow looks the batch's ids up in its journal before publishing",
          roundsCertflow: rates(batch.certflowIds),
          roundsBaseline: rates(batch.raw),
          cpuCertflow: bestRound(batch.certflowIds).cpu,
        },
      }),
      figure({
        benchmark: "ingest",
        name: "ingest single POST",
        unit: "requests/s",
        certflow: bestRound(single.certflow).rate,
        baseline: bestRound(single.hono).rate,
        baselineName: "bare hono 202",
        better: "higher",
        details: {
          requests: singleTotal,
          concurrency: CONCURRENCY,
          certflowServices: SERVICES,
          roundsCertflow: rates(single.certflow),
          roundsBaseline: rates(single.hono),
          cpuCertflow: bestRound(single.certflow).cpu,
          cpuBaseline: bestRound(single.hono).cpu,
        },
      }),
    ];
    figures.forEach(announce);
    return figures;
  } finally {
    for (const client of clients) client.close();
    await raw?.destroy();
    await hono?.stop();
    await certflow?.destroy();
  }
}

export async function certflowBatches(client: HttpClient, producer: Credential, inputs: NotificationInput[], label: string): Promise<number> {
  let accepted = 0;
  const stop = progress(label, () => `${accepted}/${inputs.length} accepted`, () => accepted);
  try {
    const batches = chunk(inputs, BATCH_SIZE);
    await closedLoop(batches.length, BATCHES_IN_FLIGHT, async (index) => {
      // Not `accepted += await …`: that reads `accepted` before the await and loses concurrent updates.
      const ids = await postBatch(client, producer, batches[index]!);
      accepted += ids.length;
    });
  } finally {
    stop();
  }
  return accepted;
}

export async function rawBatches(raw: RawJetStream, producerName: string, inputs: NotificationInput[], label: string): Promise<number> {
  let published = 0;
  const stop = progress(label, () => `${published}/${inputs.length} published`, () => published);
  try {
    const batches = chunk(inputs, BATCH_SIZE);
    await closedLoop(batches.length, BATCHES_IN_FLIGHT, async (index) => {
      // The envelope is made here as certflow makes it on its side: id, time, source.
      const batch = batches[index]!.map((input) => envelopeOf(input, producerName));
      await raw.publishMany(batch);
      published += batch.length;
    });
  } finally {
    stop();
  }
  return published;
}

/** The same requests and client for certflow and the bare server: one notification per POST. */
async function singles(client: HttpClient, producer: Credential, inputs: NotificationInput[], label: string): Promise<number> {
  let answered = 0;
  const stop = progress(label, () => `${answered}/${inputs.length} answered`, () => answered);
  try {
    await closedLoop(inputs.length, CONCURRENCY, async (index) => {
      const response = await client.request("POST", "/v1/notifications", { body: JSON.stringify(inputs[index]), token: producer.token });
      if (response.status !== 202) throw new Error(`POST /v1/notifications answered ${response.status}: ${response.text.slice(0, 300)}`);
      JSON.parse(response.text);
      answered++;
    });
  } finally {
    stop();
  }
  return answered;
}

/** Size of an envelope as certflow stored it, to show both sides publish the same payload size. */
async function storedMessageBytes(raw: RawJetStream, stream: string): Promise<number | undefined> {
  const stored = await raw.jsm.streams.getMessage(stream, { seq: 1 }).catch(() => null);
  return stored?.data.length;
}
