/**
 * Certificate conversions, each figure beside a baseline measured in the same run:
 *
 * 1. conversions/s on the piscina pool vs the same conversion code (`convert`) on this one thread;
 * 2. hourly certificates persisted/s by the registry's persist step (one transaction per
 *    conversion: hours, annual version, status) vs a raw bulk insert of the same rows into the
 *    same table with the same driver (pg, one `INSERT ... SELECT FROM unnest(...)` per conversion);
 * 3. GET /healthz p99 while 100 conversions run end to end (apportion, persist, publish 8,760
 *    notifications each) vs GET /healthz p99 of the same idle process.
 *
 * Run: `npm run bench -- certificates` (BENCH_SCALE scales the sizes, e.g. 0.2 for a quick look).
 */
import { availableParallelism, loadavg } from "node:os";
import { Worker } from "node:worker_threads";
import { sql } from "kysely";
import pg from "pg";
import { loadConfig } from "../src/core/config.js";
import { ensureDatabase, openDatabase, type DatabaseHandle } from "../src/core/db/database.js";
import { migrateToLatest } from "../src/core/db/migrate.js";
import { createLogger } from "../src/core/logger.js";
import { hourlyCertificateId } from "../src/certificates/book/ids.js";
import { convert } from "../src/certificates/conversions/compute.js";
import { ConversionPool } from "../src/certificates/conversions/conversion-pool.js";
import { PostgresConversionStore } from "../src/certificates/conversions/conversion-store.js";
import { CommandLog } from "../src/certificates/commands/command-log.js";
import { Commands } from "../src/certificates/commands/commands.js";
import type { OutboxRelay } from "../src/certificates/book/outbox.js";
import { deferCleanup, dropSchema } from "./lib/cleanup.js";
import { ADMIN_TOKEN, DATABASE_URL, isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { distribution, formatNumber } from "./lib/stats.js";
import { sleep, startCertflow } from "./lib/system-process.js";

const HOURS = 8760;
const YEAR = 2025;
const ROUNDS = 3;
const QUANTITY_WH = 987_654_321_987; // ~988 MWh: products exceed 2^53, so apportionment takes the exact BigInt path
const WEIGHTS = productionCurve(HOURS);

/** A wind-and-sun-like hourly profile in Wh: zero at night for part of the year, noisy by day. */
function productionCurve(hours: number): number[] {
  let state = 12345;
  return Array.from({ length: hours }, (_, hour) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const daylight = Math.max(0, Math.sin((((hour % 24) - 6) * Math.PI) / 12));
    const season = 1 + 0.5 * Math.cos((2 * Math.PI * hour) / hours);
    return Math.round(1_000_000 * daylight * season) + ((state >>> 8) % 50_000);
  });
}

const best = (values: number[]) => Math.max(...values);

async function poolSpeedup(): Promise<Figure> {
  const count = scaled(200, { min: 20 });
  const workers = availableParallelism();
  const task = { quantityWh: QUANTITY_WH, hours: HOURS, weightsWh: WEIGHTS };
  console.log(`\n[1] ${count} conversions of ${HOURS} hours: piscina pool (${workers} workers) vs one thread`);
  const pool = new ConversionPool({ workers, queue: count * 2 });
  // Start every thread before measuring: tsx loads in each, which is not conversion work.
  await Promise.all(Array.from({ length: workers * 4 }, () => pool.convert(task)));
  const single: number[] = [];
  const pooled: number[] = [];
  const coresUsed: number[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      let started = performance.now();
      for (let index = 0; index < count; index++) convert(task);
      single.push((count * 1000) / (performance.now() - started));
      started = performance.now();
      // CPU time of every thread of this process: how many cores the pool actually got.
      const cpu = process.cpuUsage();
      const results = await Promise.all(Array.from({ length: count }, () => pool.convert(task)));
      const wallMs = performance.now() - started;
      const used = process.cpuUsage(cpu);
      pooled.push((count * 1000) / wallMs);
      coresUsed.push((used.user + used.system) / 1000 / wallMs);
      if (results.some((result) => result.totalWh !== QUANTITY_WH)) throw new Error("a pooled conversion lost energy");
      console.log(
        `    round ${round + 1}: one thread ${formatNumber(single[round]!, 1)}/s, pool ${formatNumber(pooled[round]!, 1)}/s ` +
          `(the pool got ${coresUsed[round]!.toFixed(2)} of ${workers} cores; load average ${loadavg()[0]!.toFixed(2)})`,
      );
    }
  } finally {
    await pool.close();
  }
  const ceiling = await parallelCeiling(workers);
  console.log(`    parallel ceiling now: a fixed CPU loop on ${workers} threads runs ${ceiling.toFixed(2)}x one thread (other load on the machine lowers it)`);
  const result = figure({
    benchmark: "certificates",
    name: "conversions per second (apportion 8,760 hours)",
    unit: "conversions/s",
    certflow: best(pooled),
    baseline: best(single),
    baselineName: "same code on one thread",
    better: "higher",
    details: { workers, conversions: count, perConversionMs: 1000 / best(single), coresUsed, parallelCeiling: ceiling, aim: `close to ${workers}x` },
  });
  announce(result);
  return result;
}

/**
 * What the machine allows right now: a fixed integer loop on `threads` worker threads at once
 * vs on one. On a quiet machine it is the thread count; other processes' load lowers it.
 */
async function parallelCeiling(threads: number): Promise<number> {
  const source = `
    const { parentPort } = require("node:worker_threads");
    let x = 0;
    const started = performance.now();
    for (let i = 0; i < 2e8; i++) x = (Math.imul(x, 1103515245) + i) | 0;
    parentPort.postMessage(performance.now() - started + (x & 0));`;
  const run = () =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(source, { eval: true });
      worker.once("message", () => resolve());
      worker.once("error", reject);
    });
  let started = performance.now();
  await run();
  const one = performance.now() - started;
  started = performance.now();
  await Promise.all(Array.from({ length: threads }, run));
  return (threads * one) / (performance.now() - started);
}

async function persistence(): Promise<Figure> {
  const perRound = scaled(10, { min: 2 });
  console.log(`\n[2] hourly certificates persisted: registry persist step vs raw bulk insert (${perRound} x ${HOURS} rows per round, ${ROUNDS} rounds)`);
  const schema = isolationId("certs");
  const undo = deferCleanup(() => dropSchema(schema));
  const config = loadConfig({ CERTFLOW_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL, DATABASE_SCHEMA: schema, DATABASE_POOL_SIZE: "4" });
  await ensureDatabase(config.database);
  const database: DatabaseHandle = openDatabase(config.database);
  try {
    await migrateToLatest(database.db, schema, createLogger("warn"));
    const store = new PostgresConversionStore(database.db);
    // Persisting a conversion queues one issue command per hour (bytes, txId, accepted event).
    const issue = new Commands(new CommandLog(database.db, "bench"), { requestCommandSend() {} }, {} as OutboxRelay).issueHours;
    const quantities = convert({ quantityWh: QUANTITY_WH, hours: HOURS, weightsWh: WEIGHTS }).quantitiesWh;
    const registry: number[] = [];
    const raw: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const viaRegistry = await parents(database, `r${round}`, perRound);
      const viaRaw = await parents(database, `b${round}`, perRound);
      const conversions: string[] = [];
      for (const annualId of viaRegistry) {
        const conversion = await store.create({
          id: crypto.randomUUID(),
          annualCertificateId: annualId,
          profileKind: "hourly",
          profileUnit: "Wh",
          profileWh: null,
          hours: HOURS,
          quantityWh: QUANTITY_WH,
          requestedBy: "bench",
        });
        conversions.push(conversion.id);
      }
      // Alternate which side goes first, so neither always meets a warmer cache.
      const sides = [
        async () => {
          const started = performance.now();
          for (const id of conversions) if (!(await store.persist(id, quantities, issue))) throw new Error("not persisted");
          registry.push((perRound * HOURS * 1000) / (performance.now() - started));
        },
        async () => {
          const started = performance.now();
          for (const annualId of viaRaw) await rawInsert(database.pool, annualId, quantities);
          raw.push((perRound * HOURS * 1000) / (performance.now() - started));
        },
      ];
      if (round % 2 === 1) sides.reverse();
      for (const side of sides) await side();
      console.log(`    round ${round + 1}: registry ${formatNumber(registry[round]!)} rows/s, raw insert ${formatNumber(raw[round]!)} rows/s`);
    }
    const counted = await sql<{ count: number }>`SELECT count(*)::int AS count FROM registry_certificates WHERE kind = 'hourly'`.execute(database.db);
    if (counted.rows[0]!.count !== 2 * ROUNDS * perRound * HOURS) throw new Error(`expected ${2 * ROUNDS * perRound * HOURS} hourly rows, found ${counted.rows[0]!.count}`);
    const result = figure({
      benchmark: "certificates",
      name: "hourly certificates persisted per second",
      unit: "rows/s",
      certflow: best(registry),
      baseline: best(raw),
      baselineName: "raw pg bulk insert (unnest) of the same rows",
      better: "higher",
      details: { rowsPerConversion: HOURS, conversionsPerRound: perRound, rounds: ROUNDS, aim: "at least 0.5x" },
    });
    announce(result);
    return result;
  } finally {
    await database.close();
    await undo();
  }
}

/** Cancelled annual certificates to convert, written straight to the table. */
async function parents(database: DatabaseHandle, prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, index) => `bench-${prefix}-${index}`);
  await sql`
    INSERT INTO registry_certificates (certificate_id, kind, device_id, grid_area, energy_source, period_start, period_end,
      quantity_wh, owner, initial_owner, status, version, registered_by)
    SELECT id, 'annual', 'device-1', 'DK1', 'wind', ${`${YEAR}-01-01T00:00:00Z`}::timestamptz, ${`${YEAR + 1}-01-01T00:00:00Z`}::timestamptz,
      ${QUANTITY_WH}, 'owner-a', 'owner-a', 'cancelled', 2, 'bench'
    FROM unnest(${ids}::text[]) AS id
  `.execute(database.db);
  return ids;
}

/** The baseline: every column of every row built here and sent in one statement, in one transaction. */
async function rawInsert(pool: pg.Pool, annualId: string, quantities: Float64Array): Promise<void> {
  const start = Date.UTC(YEAR, 0, 1);
  const columns = {
    id: new Array<string>(HOURS),
    periodStart: new Array<string>(HOURS),
    periodEnd: new Array<string>(HOURS),
    quantity: new Array<number>(HOURS),
    hour: new Array<number>(HOURS),
  };
  for (let hour = 0; hour < HOURS; hour++) {
    columns.id[hour] = hourlyCertificateId(annualId, hour);
    columns.periodStart[hour] = new Date(start + hour * 3_600_000).toISOString();
    columns.periodEnd[hour] = new Date(start + (hour + 1) * 3_600_000).toISOString();
    columns.quantity[hour] = quantities[hour]!;
    columns.hour[hour] = hour;
  }
  const same = <T>(value: T) => new Array<T>(HOURS).fill(value);
  const conversionId = crypto.randomUUID();
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(
      `INSERT INTO registry_certificates (certificate_id, kind, device_id, grid_area, energy_source, period_start, period_end, quantity_wh,
         owner, initial_owner, status, parent_certificate_id, hour_index, version, conversion_id, registered_by)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bigint[],
         $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::int[], $15::uuid[], $16::text[])`,
      [
        columns.id,
        same("hourly"),
        same("device-1"),
        same("DK1"),
        same("wind"),
        columns.periodStart,
        columns.periodEnd,
        columns.quantity,
        same("owner-a"),
        same("owner-a"),
        same("active"),
        same(annualId),
        columns.hour,
        same(1),
        same(conversionId),
        same("bench"),
      ],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  } finally {
    client.release();
  }
}

async function healthUnderLoad(): Promise<Figure> {
  const conversions = scaled(100, { min: 5 });
  console.log(`\n[3] GET /healthz while ${conversions} conversions run end to end (SERVICES=producer) vs the same process idle`);
  const system = await startCertflow({ id: isolationId("conv"), services: "producer", profileName: "certificates" });
  const health = new HttpClient(system.url, 1);
  const api = new HttpClient(system.url, 4);
  try {
    const idle = await sampleHealth(health, () => false, 5_000);
    console.log(`    idle: ${idle.length} requests, p50 ${formatNumber(distribution(idle).p50, 2)} ms, p99 ${formatNumber(distribution(idle).p99, 2)} ms`);

    let finished = false;
    const started = performance.now();
    const load = (async () => {
      const ids: string[] = [];
      const profile = { kind: "hourly", valuesWh: WEIGHTS };
      for (let index = 0; index < conversions; index++) {
        const id = `load-${index}`;
        await api.json("POST", "/v1/certificates/annual", 201, {
          token: ADMIN_TOKEN,
          body: { id, deviceId: "device-1", gridArea: "DK1", energySource: "wind", year: YEAR, quantityWh: QUANTITY_WH, owner: "owner-a" },
        });
        await api.json("POST", `/v1/certificates/${id}/cancel`, 200, { token: ADMIN_TOKEN, body: {} });
        const accepted = await api.json<{ conversionId: string }>("POST", "/v1/conversions", 202, {
          token: ADMIN_TOKEN,
          body: { annualCertificateId: id, profile },
        });
        ids.push(accepted.conversionId);
      }
      for (const id of ids) {
        for (;;) {
          const conversion = await api.json<{ status: string; error: string | null }>("GET", `/v1/conversions/${id}`, 200, { token: ADMIN_TOKEN });
          if (conversion.status === "done") break;
          if (conversion.status === "failed") throw new Error(`conversion ${id} failed: ${conversion.error}`);
          await sleep(250);
        }
      }
      finished = true;
    })();
    const busy = await sampleHealth(health, () => finished, 600_000);
    await load;
    const seconds = (performance.now() - started) / 1000;
    const statistics = await api.json<{ certificates: { byKind: Array<{ kind: string; count: number }> } }>("GET", "/v1/statistics", 200, { token: ADMIN_TOKEN });
    const hourly = statistics.certificates.byKind.find((entry) => entry.kind === "hourly")?.count ?? 0;
    if (hourly !== conversions * HOURS) throw new Error(`expected ${conversions * HOURS} hourly certificates, found ${hourly}`);
    const underLoad = distribution(busy);
    const baseline = distribution(idle);
    console.log(
      `    under load: ${busy.length} requests in ${seconds.toFixed(1)} s, p50 ${formatNumber(underLoad.p50, 2)} ms, p99 ${formatNumber(underLoad.p99, 2)} ms, ` +
        `max ${formatNumber(underLoad.max, 1)} ms; ${formatNumber(conversions / seconds, 2)} conversions/s end to end, ` +
        `${formatNumber(hourly / seconds)} hourly certificates persisted and published per second`,
    );
    const result = figure({
      benchmark: "certificates",
      name: `GET /healthz p99 while ${conversions} conversions run`,
      unit: "ms",
      certflow: underLoad.p99,
      baseline: baseline.p99,
      baselineName: "GET /healthz p99 of the same idle process",
      better: "lower",
      details: {
        conversions,
        seconds: Math.round(seconds),
        p50UnderLoad: underLoad.p50,
        maxUnderLoad: underLoad.max,
        conversionsPerSecond: conversions / seconds,
        hourlyCertificatesPerSecond: hourly / seconds,
      },
    });
    announce(result);
    return result;
  } finally {
    health.close();
    api.close();
    await system.destroy();
  }
}

/** Sequential GET /healthz, one every few milliseconds, until `done()` or the time is up; latencies in ms. */
async function sampleHealth(client: HttpClient, done: () => boolean, maxMs: number): Promise<number[]> {
  const latencies: number[] = [];
  const deadline = performance.now() + maxMs;
  while (!done() && performance.now() < deadline) {
    const started = performance.now();
    const response = await client.request("GET", "/healthz");
    latencies.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`GET /healthz answered ${response.status}`);
    await sleep(5);
  }
  return latencies;
}

/** The three figures, in order; run with `npm run bench -- certificates`. */
export async function certificates(): Promise<Figure[]> {
  return [await poolSpeedup(), await persistence(), await healthUnderLoad()];
}
