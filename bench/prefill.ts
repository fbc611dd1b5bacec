import pg from "pg";
import { RawJetStream } from "./baselines/jetstream.js";
import { uuidv7 } from "../src/core/ids.js";
import type { Notification, NotificationData } from "../src/core/notifications/envelope.js";
import { cpuBetween, cpuSnapshot } from "./lib/cpu.js";
import { ADMIN_TOKEN, DATABASE_URL, isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { chunk } from "./lib/measure.js";
import { closedLoop, progress } from "./lib/progress.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { formatNumber, perSecond } from "./lib/stats.js";
import { sleep, startCertflow, type CertflowProcess } from "./lib/system-process.js";

/**
 * Prefill (issue 3), two figures:
 *  - snapshot: certflow copies N certificates of its read model into a new subscription's queue
 *    (POST with prefill: true, until GET says "done"), beside a raw keyset SELECT of the same
 *    rows and columns, in pages of the same size, with the same driver, from the bench process;
 *  - projection: certflow's projection (SERVICES=prefill) catching up on M notifications already
 *    in its stream, until consumer_positions['projection'] reaches the last sequence, beside an
 *    ordered consumer reading the same stream from the start and decoding every message's JSON.
 */

/** certflow's CERTFLOW_PREFILL_PAGE_SIZE default; BENCH_PREFILL_PAGE_SIZE runs both sides with another. */
const PAGE_SIZE = Number(process.env.BENCH_PREFILL_PAGE_SIZE ?? 5000);
/**
 * How often the bench asks GET /v1/subscriptions/{name} for the prefill's status. Not more often:
 * while a snapshot is being written, each GET costs PostgreSQL about 60 ms (its pending count
 * walks the uncommitted snapshot rows), and polling every 100 ms slowed the prefill by a fifth.
 * The figure ends at certflow's own completion time, so the poll interval does not round it.
 */
const POLL_MS = Number(process.env.BENCH_PREFILL_POLL_MS ?? 500);
/** The projection's read batch (PROJECTION_BATCH in src/prefill/index.ts); the raw reader pulls batches of the same size. */
const READ_BATCH = 1000;
const PUBLISH_BATCH = 1000;
const PUBLISHES_IN_FLIGHT = 4;
/** How often the bench reads the projection's position while it catches up. */
const POSITION_POLL_MS = 10;

export async function prefill(): Promise<Figure[]> {
  return [await snapshotFigure(), await projectionFigure()];
}

// ---------------------------------------------------------------------------------------------
// (a) snapshot rows/s

interface PrefillView {
  status: string;
  total: number;
  sent: number;
  error: string | null;
}

async function snapshotFigure(): Promise<Figure> {
  const rows = scaled(200_000, { min: 10_000, step: 1_000 });
  console.log(`prefill snapshot: ${rows} certificates in the read model, pages of ${PAGE_SIZE}, one subscription with prefill: true`);
  const system = await startCertflow({
    id: isolationId("prefill"),
    profileName: "prefill-snapshot",
    env: { CERTFLOW_PREFILL_PAGE_SIZE: String(PAGE_SIZE) },
  });
  const client = new HttpClient(system.url, 4);
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  try {
    const seedMs = await seedReadModel(db, system.id, rows);
    console.log(`  seeded ${formatNumber(rows)} rows (and vacuumed) in ${(seedMs / 1000).toFixed(1)} s`);

    // Warm-up: a prefill whose filter matches nothing still counts (a scan of the table) and pages once.
    console.log("  warming up: a prefill matching no certificate, and a raw pass over a few pages");
    await prefillRun(system, client, "bench-prefill-warm", [{ types: ["*"], where: { gridArea: ["nowhere"] } }], 0, 30_000);
    await keysetRead(db, system.id, PAGE_SIZE * 4);

    const raw = await rawKeysetRun(db, system.id, rows);
    const run = await prefillRun(system, client, "bench-prefill", [{ types: ["*"] }], rows, 120_000 + rows);
    const stages = await prefillStages(db, system.id, "bench-prefill");
    // From the POST to the completion certflow recorded (same machine, same clock); the GET that saw it came up to POLL_MS later.
    const certflowMs = stages.doneAtMs - run.postedAtMs;
    const certflow = { ms: certflowMs, rate: perSecond(rows, certflowMs) };

    const result = figure({
      benchmark: "prefill",
      name: "prefill snapshot",
      unit: "rows/s",
      certflow: certflow.rate,
      baseline: raw.rate,
      baselineName: `raw keyset SELECT certificate_id, state (pg, pages of ${PAGE_SIZE})`,
      better: "higher",
      details: {
        rows,
        pageSize: PAGE_SIZE,
        seconds: { certflow: round(certflow.ms / 1000), baseline: round(raw.ms / 1000) },
        certflowSecondsToGetDone: round(run.ms / 1000),
        seedSeconds: round(seedMs / 1000),
        certflowMeasuredAs:
          "POST /v1/subscriptions (prefill: true) to the completion certflow records (prefills.updated_at as status becomes done); GET /v1/subscriptions/{name} polled meanwhile until it answers done",
        certflowPollMs: POLL_MS,
        certflowGetRequests: run.gets,
        certflowStages: stages,
        baselineMeasuredAs: "SELECT certificate_id, state ... WHERE certificate_id > $last ORDER BY certificate_id LIMIT pageSize, in one REPEATABLE READ transaction",
        baselinePages: raw.pages,
        cpuCertflow: run.cpu,
        cpuBaseline: raw.cpu,
      },
    });
    announce(result);
    console.log(`     certflow stages: ${describeStages(stages)}`);
    return result;
  } finally {
    await db.end();
    client.close();
    await system.destroy();
  }
}

/** The rows certflow's projection would write, varied like a real registry (owners, devices, grid areas). */
async function seedReadModel(db: pg.Client, schema: string, count: number): Promise<number> {
  const started = performance.now();
  const stop = progress("seed", () => `inserting ${formatNumber(count)} certificate_states rows`);
  try {
    await db.query(
      `INSERT INTO "${schema}".certificate_states (certificate_id, kind, device_id, grid_area, energy_source, owner, status,
         period_start, period_end, quantity_wh, version, last_seq, state)
       SELECT id, 'annual', device, area, 'wind', owner, 'active', '2025-01-01Z', '2026-01-01Z', quantity, 1, 0,
         jsonb_build_object('certificateId', id, 'kind', 'annual', 'deviceId', device, 'gridArea', area, 'energySource', 'wind',
           'periodStart', '2025-01-01T00:00:00.000Z', 'periodEnd', '2026-01-01T00:00:00.000Z', 'quantityWh', quantity,
           'owner', owner, 'status', 'active', 'version', 1)
       FROM (
         SELECT 'cert-' || lpad(i::text, 7, '0') AS id, 'device-' || (i % 997) AS device,
                CASE WHEN i % 2 = 0 THEN 'DK1' ELSE 'DK2' END AS area, 'owner-' || (i % 101) AS owner, 1000000 + i AS quantity
         FROM generate_series(1, $1::int) i
       ) ids`,
      [count],
    );
    // Neither side should pay for setting hint bits on rows just written, nor plan without statistics.
    await db.query(`VACUUM (ANALYZE) "${schema}".certificate_states`);
  } finally {
    stop();
  }
  return performance.now() - started;
}

interface SnapshotRun {
  /** Date.now() just before the POST. */
  postedAtMs: number;
  /** Until a GET answered done. */
  ms: number;
  rate: number;
  total: number;
  gets: { count: number; meanMs: number; maxMs: number };
  cpu: Record<string, string>;
}

/** Creates the subscription and polls GET until its prefill is done; timed from the POST. */
async function prefillRun(
  system: CertflowProcess,
  client: HttpClient,
  name: string,
  filters: unknown[],
  expected: number,
  timeoutMs: number,
): Promise<SnapshotRun> {
  let view: PrefillView = { status: "pending", total: 0, sent: 0, error: null };
  const getTimes: number[] = [];
  const measured = expected > 0;
  const stop = measured ? progress("certflow prefill", () => `${view.status}, ${formatNumber(view.sent)}/${formatNumber(view.total)} rows`, () => view.sent) : () => {};
  const cpuBefore = cpuSnapshot({ certflow: system.child.pid });
  const postedAtMs = Date.now();
  const started = performance.now();
  let ended = 0;
  try {
    await client.json("POST", "/v1/subscriptions", 201, { body: { name, filters, prefill: true }, token: ADMIN_TOKEN });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const asked = performance.now();
      const body = await client.json<{ prefill: PrefillView }>("GET", `/v1/subscriptions/${name}`, 200, { token: ADMIN_TOKEN });
      ended = performance.now();
      getTimes.push(ended - asked);
      view = body.prefill;
      if (view.status === "done") break;
      if (view.status === "failed") throw new Error(`prefill of ${name} failed: ${view.error}`);
      if (Date.now() > deadline) throw new Error(`prefill of ${name} not done within ${timeoutMs / 1000} s: ${JSON.stringify(view)}`);
      await sleep(Math.max(0, POLL_MS - (performance.now() - asked)));
    }
  } finally {
    stop();
  }
  const cpu = cpuBetween(cpuBefore, cpuSnapshot({ certflow: system.child.pid }));
  if (view.total !== expected || view.sent !== expected) {
    throw new Error(`prefill of ${name} copied ${view.sent} of ${view.total} rows, expected ${expected}`);
  }
  const ms = ended - started;
  const gets = {
    count: getTimes.length,
    meanMs: round(getTimes.reduce((sum, value) => sum + value, 0) / Math.max(1, getTimes.length)),
    maxMs: round(Math.max(0, ...getTimes)),
  };
  return { postedAtMs, ms, rate: perSecond(expected, ms), total: view.total, gets, cpu };
}

interface RawRead {
  ms: number;
  rate: number;
  pages: number;
  cpu: Record<string, string>;
}

/** The baseline: the snapshot's read alone, every page fetched into this process (jsonb parsed by pg, as any client gets it). */
async function rawKeysetRun(db: pg.Client, schema: string, expected: number): Promise<RawRead> {
  let read = 0;
  const stop = progress("raw keyset", () => `${formatNumber(read)}/${formatNumber(expected)} rows read`, () => read);
  const cpuBefore = cpuSnapshot();
  const started = performance.now();
  let pages = 0;
  try {
    ({ rows: read, pages } = await keysetRead(db, schema, Number.POSITIVE_INFINITY, (count) => (read = count)));
  } finally {
    stop();
  }
  const ms = performance.now() - started;
  const cpu = cpuBetween(cpuBefore, cpuSnapshot());
  if (read !== expected) throw new Error(`raw keyset read ${read} rows, expected ${expected}`);
  return { ms, rate: perSecond(read, ms), pages, cpu };
}

async function keysetRead(db: pg.Client, schema: string, limit: number, onPage?: (rows: number) => void) {
  let rows = 0;
  let pages = 0;
  let after = "";
  await db.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
  try {
    while (rows < limit) {
      const page = await db.query<{ certificate_id: string; state: unknown }>({
        name: "bench-keyset-page",
        text: `SELECT certificate_id, state FROM "${schema}".certificate_states WHERE certificate_id > $1 ORDER BY certificate_id LIMIT $2`,
        values: [after, PAGE_SIZE],
      });
      if (page.rows.length === 0) break;
      rows += page.rows.length;
      pages++;
      after = page.rows[page.rows.length - 1]!.certificate_id;
      onPage?.(rows);
    }
  } finally {
    await db.query("COMMIT");
  }
  return { rows, pages };
}

interface Stages {
  /** Subscription row written to the worker's claim. */
  claimMs: number;
  /** Claim to completion: the count, every page copied, the commit. */
  copyMs: number;
  copyRowsPerSecond: number;
  snapshotRows: number;
  /** When certflow marked the prefill done (epoch ms). */
  doneAtMs: number;
}

/** certflow's own timestamps (one machine, one clock): when the worker claimed the prefill and when it completed it. */
async function prefillStages(db: pg.Client, schema: string, name: string): Promise<Stages> {
  const { rows } = await db.query(
    `SELECT extract(epoch FROM p.started_at - s.created_at) * 1000 AS claim_ms,
            extract(epoch FROM p.updated_at - p.started_at) * 1000 AS copy_ms,
            (SELECT count(*) FROM "${schema}".deliveries d WHERE d.subscription_id = s.id AND d.phase = 0)::int AS snapshot_rows,
            extract(epoch FROM p.updated_at) * 1000 AS done_at_ms, p.status
     FROM "${schema}".subscriptions s JOIN "${schema}".prefills p ON p.subscription_id = s.id WHERE s.name = $1`,
    [name],
  );
  const row = rows[0];
  if (row?.status !== "done") throw new Error(`the prefill of ${name} is ${row?.status ?? "missing"}`);
  const copyMs = Number(row.copy_ms);
  return {
    claimMs: round(Number(row.claim_ms)),
    copyMs: round(copyMs),
    copyRowsPerSecond: Math.round(perSecond(row.snapshot_rows, copyMs)),
    snapshotRows: row.snapshot_rows,
    doneAtMs: Number(row.done_at_ms),
  };
}

const describeStages = (stages: Stages) =>
  `subscription created -> worker claimed ${stages.claimMs} ms, claimed -> done ${stages.copyMs} ms ` +
  `(${formatNumber(stages.copyRowsPerSecond)} rows/s inside the worker), ${formatNumber(stages.snapshotRows)} snapshot rows in the ledger`;

// ---------------------------------------------------------------------------------------------
// (b) projection notifications/s

interface CatchUp {
  ms: number;
  rate: number;
  /** Messages the rate counts (those after the first position seen). */
  counted: number;
  cpu: Record<string, string>;
}

async function projectionFigure(): Promise<Figure> {
  const total = scaled(50_000, { min: 5_000, step: 1_000 });
  const id = isolationId("projection");
  const envelopes = projectionMix(total);
  const mix = countBy(envelopes.map((envelope) => envelope.type));
  console.log(
    `prefill projection: ${formatNumber(total)} notifications already in the stream (${Object.entries(mix)
      .map(([type, count]) => `${formatNumber(count)} ${type.replace("certificate.", "")}`)
      .join(", ")}) over ${formatNumber(certificatesIn(total))} certificates`,
  );
  // The stream is made here, configured as certflow configures its own (certflow finds and keeps it),
  // and filled as certflow's broker fills it: JSON envelopes on partition subjects, ids as msgIDs.
  const raw = await RawJetStream.open(id);
  let system: CertflowProcess | undefined;
  try {
    let published = 0;
    const stopPublish = progress("publish", () => `${formatNumber(published)}/${formatNumber(total)} published`, () => published);
    const publishStarted = performance.now();
    try {
      const batches = chunk(envelopes, PUBLISH_BATCH);
      await closedLoop(batches.length, PUBLISHES_IN_FLIGHT, async (index) => {
        await raw.publishMany(batches[index]!);
        published += batches[index]!.length;
      });
    } finally {
      stopPublish();
    }
    const publishMs = performance.now() - publishStarted;
    const info = await raw.jsm.streams.info(raw.stream);
    const lastSeq = info.state.last_seq;
    if (info.state.messages !== total) throw new Error(`the stream holds ${info.state.messages} messages, expected ${total}`);
    console.log(`  published in ${(publishMs / 1000).toFixed(1)} s; stream ${raw.stream} ends at sequence ${lastSeq}`);

    const baseline = await orderedConsumerRun(raw, lastSeq, total);

    const spawned = performance.now();
    system = await startCertflow({ id, services: "prefill", profileName: "prefill-projection" });
    const readyMs = performance.now() - spawned;
    const certflow = await projectionCatchUp(system, lastSeq, total, spawned);
    const states = await readModelCheck(system.id);
    const expectedCertificates = certificatesIn(total);
    if (states.rows !== expectedCertificates || states.wrongVersion !== 0) {
      throw new Error(`read model check failed: ${JSON.stringify(states)} (expected ${expectedCertificates} certificates at their last version)`);
    }

    const result = figure({
      benchmark: "prefill",
      name: "prefill projection",
      unit: "notifications/s",
      certflow: certflow.rate,
      baseline: baseline.rate,
      baselineName: `raw ordered consumer from the start, JSON decoded (batches of ${READ_BATCH})`,
      better: "higher",
      details: {
        notifications: total,
        mix,
        certificates: expectedCertificates,
        lastSeq,
        seconds: { certflow: round(certflow.ms / 1000), baseline: round(baseline.ms / 1000) },
        certflowMeasuredAs:
          "SERVICES=prefill started on the filled stream; from the first projection position seen after /readyz to consumer_positions['projection'] = last sequence, over the notifications in between",
        certflowCounted: certflow.counted,
        certflowSpawnToReadyMs: Math.round(readyMs),
        publishSeconds: round(publishMs / 1000),
        readModel: states,
        cpuCertflow: certflow.cpu,
        cpuBaseline: baseline.cpu,
      },
    });
    announce(result);
    console.log(
      `     read model: ${formatNumber(states.rows)} certificates, every one at its last version (${JSON.stringify(states.byStatus)})`,
    );
    return result;
  } finally {
    if (system) await system.destroy();
    await raw.destroy();
  }
}

const certificatesIn = (total: number) => Math.round(total * 0.4);

/**
 * A registry's day: certificates issued (40%), each of them transferred once (40%: a new owner,
 * version 2), then half of them claimed (20%: version 3). Every notification carries the
 * certificate's full state; the issued ones are inserts into the read model, the rest updates.
 */
function projectionMix(total: number): Notification[] {
  const certificates = certificatesIn(total);
  const claimed = total - 2 * certificates;
  const prefix = `proj-${Date.now().toString(36)}`;
  const state = (index: number, version: number, owner: string, status: string) => ({
    certificateId: `${prefix}-${index}`,
    kind: "annual",
    deviceId: `device-${index % 997}`,
    gridArea: index % 2 ? "DK1" : "DK2",
    energySource: index % 3 ? "wind" : "solar",
    periodStart: "2025-01-01T00:00:00.000Z",
    periodEnd: "2026-01-01T00:00:00.000Z",
    quantityWh: 1_000_000 + index,
    owner,
    status,
    version,
  });
  const envelope = (type: Notification["type"], data: Record<string, unknown>): Notification => {
    const id = uuidv7();
    return {
      id,
      type,
      source: { name: "bench-producer", version: "1" },
      time: new Date().toISOString(),
      subject: data.certificateId as string,
      parentId: null,
      correlationId: id,
      channel: "http",
      data: data as NotificationData,
    };
  };
  const envelopes: Notification[] = [];
  for (let index = 0; index < certificates; index++) {
    envelopes.push(envelope("certificate.issued", state(index, 1, `owner-${index % 101}`, "active")));
  }
  for (let index = 0; index < certificates; index++) {
    envelopes.push(
      envelope("certificate.transferred", {
        ...state(index, 2, `owner-${(index + 1) % 101}`, "active"),
        previousOwner: `owner-${index % 101}`,
        tradeId: `trade-${index}`,
      }),
    );
  }
  for (let index = 0; index < claimed; index++) {
    envelopes.push(envelope("certificate.claimed", { ...state(index, 3, `owner-${(index + 1) % 101}`, "claimed"), beneficiary: "consumer" }));
  }
  return envelopes;
}

/** The baseline: an ordered consumer (what certflow's reader uses) over the whole stream, every message JSON-decoded. */
async function orderedConsumerRun(raw: RawJetStream, lastSeq: number, total: number): Promise<CatchUp> {
  let received = 0;
  const stop = progress("raw ordered consumer", () => `${formatNumber(received)}/${formatNumber(total)} read`, () => received);
  const cpuBefore = cpuSnapshot();
  const started = performance.now();
  try {
    const consumer = await raw.js.consumers.get(raw.stream, { filter_subjects: raw.names.notificationsFilter, opt_start_seq: 1 });
    const messages = await consumer.consume({ max_messages: READ_BATCH });
    const timer = setTimeout(() => messages.stop(new Error(`the ordered consumer read ${received} of ${total} within 120 s`)), 120_000);
    try {
      for await (const message of messages) {
        const envelope = message.json<{ data?: { certificateId?: string } }>();
        if (envelope.data?.certificateId) received++;
        if (message.seq >= lastSeq) break;
      }
    } finally {
      clearTimeout(timer);
      messages.stop();
    }
  } finally {
    stop();
  }
  const ms = performance.now() - started;
  const cpu = cpuBetween(cpuBefore, cpuSnapshot());
  if (received !== total) throw new Error(`the ordered consumer read ${received} notifications, expected ${total}`);
  return { ms, rate: perSecond(received, ms), counted: received, cpu };
}

/**
 * Polls the projection's position from the moment certflow answers /readyz. Its first batches may
 * commit before that (services start right after the server listens), so the rate counts from the
 * first position seen to the last sequence, over the time between; process start-up is not in it.
 */
async function projectionCatchUp(system: CertflowProcess, lastSeq: number, total: number, spawned: number): Promise<CatchUp> {
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  let position = 0;
  const stop = progress("certflow projection", () => `position ${formatNumber(position)}/${formatNumber(lastSeq)}`);
  try {
    const read = async () => {
      const { rows } = await db.query(`SELECT seq FROM "${system.id}".consumer_positions WHERE name = 'projection'`);
      return Number(rows[0]?.seq ?? 0);
    };
    const cpuBefore = cpuSnapshot({ certflow: system.child.pid });
    let from = { seq: await read(), at: performance.now() };
    position = from.seq;
    // Start counting at the first commit when none has happened yet (the reader still connecting).
    const deadline = Date.now() + 120_000 + total * 2;
    while (position < lastSeq) {
      if (Date.now() > deadline) throw new Error(`the projection reached ${position} of ${lastSeq} within the time allowed`);
      await sleep(POSITION_POLL_MS);
      const seq = await read();
      if (from.seq === 0 && seq > 0) from = { seq, at: performance.now() };
      position = seq;
    }
    const ended = performance.now();
    const cpu = cpuBetween(cpuBefore, cpuSnapshot({ certflow: system.child.pid }));
    const counted = lastSeq - from.seq;
    if (counted < total / 2) {
      // Most of it happened before /readyz: the rate from spawn (start-up included) is all there is.
      console.log(`    (the projection was at ${from.seq} already when first seen; timing from process spawn instead)`);
      const ms = ended - spawned;
      return { ms, rate: perSecond(total, ms), counted: total, cpu };
    }
    const ms = ended - from.at;
    return { ms, rate: perSecond(counted, ms), counted, cpu };
  } finally {
    stop();
    await db.end();
  }
}

/** Every certificate once, at the last version the stream holds for it. */
async function readModelCheck(schema: string) {
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  try {
    const { rows } = await db.query(
      `SELECT status, count(*)::int AS n,
              count(*) FILTER (WHERE version <> CASE status WHEN 'claimed' THEN 3 ELSE 2 END)::int AS wrong_version
       FROM "${schema}".certificate_states GROUP BY status`,
    );
    const byStatus = Object.fromEntries(rows.map((row) => [row.status, row.n]));
    return {
      rows: rows.reduce((sum, row) => sum + row.n, 0),
      wrongVersion: rows.reduce((sum, row) => sum + row.wrong_version, 0),
      byStatus,
    };
  } finally {
    await db.end();
  }
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

const round = (value: number) => Math.round(value * 100) / 100;
