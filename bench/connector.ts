/**
 * The registry connector (issue 9), against the HTTP registry emulator in a process of its own
 * (`src/registry-emulator/main.ts`, knobs set over its control API), with certflow's `certificates`
 * and `connector` services in another (real PostgreSQL and NATS, CERTFLOW_REGISTRY_URL = the emulator):
 *
 * 1. At 0 accept and 0 commit latency, no drops: the 8,760 hourly issue commands of a conversion,
 *    accepted in one go, from their acceptance to the last committed in the book (the connector's
 *    own rate: the commands wait for nothing but it), vs the emulator's direct-call rate in the same
 *    run: the same number of issue transactions POSTed in batches of 1,000 (4 in flight), then their
 *    statuses read (32 in flight) until every one answered committed.
 * 2. At 2 s commit latency: 1,000 transfers of 1,000 certificates (one each), POSTed as fast as the
 *    API takes them (32 in flight); from the first acceptance to the last committed in the book,
 *    with the commands in flight (state `sent`) sampled meanwhile. The baseline is the ideal: every
 *    command overlapped, 1,000 commands / 2 s = 500/s. The aim is at least 200/s.
 */
import pg from "pg";
import { HOURLY_ID_SUFFIX, hourlyCertificateId } from "../src/certificates/book/ids.js";
import { encodeTransaction, type EncodedTransaction } from "../src/core/registry/wire.js";
import type { FaultsPatch } from "../src/core/registry/faults.js";
import { ADMIN_TOKEN, DATABASE_URL, ROUNDS, isolationId, scaled } from "./lib/env.js";
import { HttpClient } from "./lib/http-client.js";
import { bestRound, chunk, measure, type Measurement } from "./lib/measure.js";
import { closedLoop } from "./lib/progress.js";
import { cpuBetween, cpuSnapshot } from "./lib/cpu.js";
import { announce, figure, type Figure } from "./lib/results.js";
import { formatNumber } from "./lib/stats.js";
import { sleep, startCertflow, startRegistryEmulatorProcess, type CertflowProcess } from "./lib/system-process.js";

const HOURS = 8760;
const YEAR = 2025;
const BATCH_SIZE = 1000;
const BATCHES_IN_FLIGHT = 4;
/** Status reads in flight in the direct baseline, and API requests in flight submitting commands. */
const CONCURRENCY = 32;
const COMMIT_LATENCY_MS = 2000;
const AIM_PER_SECOND = 200;

export async function connector(): Promise<Figure[]> {
  const transfers = scaled(1000, { min: 100, step: 100 });
  console.log(
    `connector: a conversion's ${HOURS} issue commands at 0 latency vs the emulator called directly (${ROUNDS} round(s)); ` +
      `then ${transfers} transfers at ${COMMIT_LATENCY_MS} ms commit latency`,
  );
  // Its own process, as an external registry is: the status reads it serves do not share an event loop with the bench's client.
  const emulator = await startRegistryEmulatorProcess();
  const control = new HttpClient(emulator.url, 1);
  const setFaults = (patch: FaultsPatch) => control.json("PUT", "/_emulator/faults", 200, { body: patch, token: ADMIN_TOKEN });
  let certflow: CertflowProcess | undefined;
  const clients: HttpClient[] = [];
  const database = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  try {
    const id = isolationId("connector");
    certflow = await startCertflow({ id, services: "certificates,connector", env: { CERTFLOW_REGISTRY_URL: emulator.url }, profileName: "connector" });
    const api = new HttpClient(certflow.url, CONCURRENCY);
    const registry = new HttpClient(emulator.url, CONCURRENCY);
    clients.push(api, registry);
    const commands = new CommandTable(database, id);
    const pids = { certflow: certflow.child.pid, emulator: emulator.child.pid };

    const viaConnector: Measurement[] = [];
    const direct: Measurement[] = [];
    let hourly: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const converted = await convertThroughConnector(api, commands, round, pids);
      viaConnector.push(converted.measurement);
      hourly = converted.certificateIds;
      direct.push(await measure(pids, () => callDirectly(registry, HOURS, round)));
    }
    const throughput = figure({
      benchmark: "connector",
      name: `connector: commands committed/s at 0 latency (a conversion's ${HOURS} issues)`,
      unit: "commands/s",
      certflow: bestRound(viaConnector).rate,
      baseline: bestRound(direct).rate,
      baselineName: "the emulator called directly (POST batches + status reads)",
      better: "higher",
      details: { commands: HOURS, batchSize: BATCH_SIZE, statusReadsInFlight: CONCURRENCY, rounds: { connector: viaConnector, direct } },
    });
    announce(throughput);

    await setFaults({ commitLatencyMs: { min: COMMIT_LATENCY_MS, max: COMMIT_LATENCY_MS } });
    const overlap = await transfersAtLatency(api, commands, hourly.slice(0, transfers), pids);
    const ideal = (transfers * 1000) / COMMIT_LATENCY_MS;
    const atLatency = (name: string, rate: number, details: object) =>
      figure({
        benchmark: "connector",
        name: `connector: ${name}`,
        unit: "commands/s",
        certflow: rate,
        baseline: ideal,
        baselineName: `the ideal, ${transfers} commands / ${COMMIT_LATENCY_MS / 1000} s`,
        better: "higher",
        details: { ...details, commitLatencyMs: COMMIT_LATENCY_MS, aim: `at least ${AIM_PER_SECOND} commands/s` },
      });
    const overlapped = atLatency(`commands committed/s at ${COMMIT_LATENCY_MS / 1000} s commit latency (${transfers} certificates, one transfer each)`, overlap.rate, overlap);
    announce(overlapped);
    console.log(
      `  => in flight (sent): peak ${overlap.peakInFlight}, average ${formatNumber(overlap.averageInFlight)}; ` +
        `aim ${AIM_PER_SECOND}/s ${overlap.rate >= AIM_PER_SECOND ? "met" : "NOT met"}`,
    );
    const backlog = await backlogAtLatency(api, commands, hourly.slice(transfers, 2 * transfers), (unavailable) => setFaults({ unavailable }));
    const drained = atLatency(
      `a backlog of ${transfers} commands drained at ${COMMIT_LATENCY_MS / 1000} s commit latency (accepted while the registry answered 503 not received)`,
      backlog.rate,
      backlog,
    );
    announce(drained);
    console.log(`  => in flight (sent): peak ${backlog.peakInFlight}; aim ${AIM_PER_SECOND}/s ${backlog.rate >= AIM_PER_SECOND ? "met" : "NOT met"}`);
    return [throughput, overlapped, drained];
  } finally {
    for (const client of clients) client.close();
    control.close();
    await certflow?.destroy();
    await database.end();
    await emulator.stop();
  }
}

/** Reads certflow's command log straight from its schema: what the connector did and when. */
class CommandTable {
  constructor(
    private readonly database: pg.Pool,
    private readonly schema: string,
  ) {}

  /** Committed commands of a type whose certificate id starts with `prefix`: how many, first acceptance, last commit. */
  async committed(type: string, prefix: string, since = new Date(0)): Promise<{ count: number; firstAcceptedAt: Date | null; lastFinishedAt: Date | null }> {
    const { rows } = await this.database.query(
      `SELECT count(*)::int AS count, min(accepted_at) AS first, max(finished_at) AS last FROM "${this.schema}".registry_commands
       WHERE type = $1 AND state = 'committed' AND starts_with(certificate_id, $2) AND accepted_at >= $3`,
      [type, prefix, since],
    );
    return { count: rows[0].count, firstAcceptedAt: rows[0].first, lastFinishedAt: rows[0].last };
  }

  /** Commands of a type by state, for those whose certificate id starts with `prefix`. */
  async states(type: string, prefix: string, since = new Date(0)): Promise<Record<string, number>> {
    const { rows } = await this.database.query(
      `SELECT state, count(*)::int AS count FROM "${this.schema}".registry_commands WHERE type = $1 AND starts_with(certificate_id, $2) AND accepted_at >= $3 GROUP BY state`,
      [type, prefix, since],
    );
    return Object.fromEntries(rows.map((row) => [row.state, row.count]));
  }
}

/** Registers and cancels an annual certificate, then converts it; measured from the first hourly acceptance to the last commit. */
async function convertThroughConnector(
  api: HttpClient,
  commands: CommandTable,
  round: number,
  pids: Record<string, number | undefined>,
): Promise<{ measurement: Measurement; certificateIds: string[] }> {
  const annualId = `bench-annual-${round}`;
  const annual = { id: annualId, deviceId: "device-1", gridArea: "DK1", energySource: "wind", year: YEAR, quantityWh: HOURS * 1_000_000, owner: "seller" };
  await commandCommitted(api, commands, "/v1/certificates/annual", annual, "issue", annualId);
  await commandCommitted(api, commands, `/v1/certificates/${annualId}/cancel`, {}, "cancel", annualId);
  const started = performance.now();
  const cpuBefore = cpuSnapshot(pids);
  await api.json("POST", "/v1/conversions", 202, { body: { annualCertificateId: annualId, profile: { kind: "uniform" } }, token: ADMIN_TOKEN });
  const prefix = `${annualId}-h`;
  const done = await untilCommitted(commands, "issue", prefix, HOURS, `conversion ${round + 1}`);
  const wallMs = performance.now() - started;
  const cpu = cpuBetween(cpuBefore, cpuSnapshot(pids));
  const ms = done.lastFinishedAt!.getTime() - done.firstAcceptedAt!.getTime();
  console.log(`    conversion ${round + 1}: ${HOURS} issues committed in ${formatNumber(ms)} ms from the first acceptance (${formatNumber(wallMs)} ms from the POST)`);
  const ids = Array.from({ length: HOURS }, (_, hour) => hourlyCertificateId(annualId, hour));
  return { measurement: { ms, count: HOURS, rate: (HOURS * 1000) / ms, cpu: { ...cpu, wallMsFromPost: String(Math.round(wallMs)) } }, certificateIds: ids };
}

/** Sends one command and waits for it in the command log (set-up, not measured). */
async function commandCommitted(api: HttpClient, commands: CommandTable, path: string, body: unknown, type: string, certificateId: string): Promise<void> {
  await api.json("POST", path, 202, { body, token: ADMIN_TOKEN });
  await untilCommitted(commands, type, certificateId, 1, `${type} ${certificateId}`);
}

/**
 * Polls the command log until `total` commands are committed, printing progress to stderr. Every
 * 200 ms and one statement per look: the bench's own scans of the command log compete with the
 * process measured for the same two cores (the figure comes from the log's timestamps, not from
 * when this loop notices).
 */
async function untilCommitted(commands: CommandTable, type: string, prefix: string, total: number, label: string, since?: Date) {
  const started = performance.now();
  let lastPrint = started;
  for (;;) {
    const states = await commands.states(type, prefix, since);
    if ((states.committed ?? 0) >= total) return commands.committed(type, prefix, since);
    if ((states.failed ?? 0) > 0 || (states.indeterminate ?? 0) > 0) throw new Error(`${label}: commands ended badly: ${JSON.stringify(states)}`);
    if (performance.now() - lastPrint >= 1000) {
      lastPrint = performance.now();
      console.error(`    ${label}: ${JSON.stringify(states)} [${((lastPrint - started) / 1000).toFixed(0)} s]`);
    }
    if (performance.now() - started > 300_000) throw new Error(`${label}: not committed within 5 minutes: ${JSON.stringify(states)}`);
    await sleep(200);
  }
}

/** The emulator's own rate: issue transactions POSTed in batches, then every status read until committed. */
async function callDirectly(registry: HttpClient, total: number, round: number): Promise<number> {
  const transactions = issues(total, round);
  const bodies = chunk(transactions, BATCH_SIZE).map((batch) => JSON.stringify({ transactions: batch.map(({ bytes }) => ({ bytes })) }));
  await closedLoop(bodies.length, BATCHES_IN_FLIGHT, async (index) => {
    const response = await registry.request("POST", "/v1/transactions", { body: bodies[index]! });
    if (response.status !== 202) throw new Error(`POST /v1/transactions answered ${response.status}: ${response.text.slice(0, 300)}`);
  });
  let open = transactions.map((tx) => tx.txId);
  while (open.length > 0) {
    const pending: string[] = [];
    await closedLoop(open.length, CONCURRENCY, async (index) => {
      const txId = open[index]!;
      const { status } = await registry.json<{ status: string }>("GET", `/v1/transactions/${txId}/status`, 200);
      if (status === "pending" || status === "unknown") pending.push(txId);
      else if (status !== "committed" && status !== "finalized") throw new Error(`a direct issue transaction ended ${status}`);
    });
    open = pending;
  }
  return total;
}

function issues(count: number, round: number): EncodedTransaction[] {
  return Array.from({ length: count }, (_, index) => {
    const certificateId = `direct-${round}-${index}`;
    return encodeTransaction({
      header: { certificateId, type: "issue", commandId: `${certificateId}-issue`, nonce: String(index) },
      payload: { certificateId, quantityWh: 1_000_000, owner: "bench", kind: "hourly", version: 1 },
    });
  });
}

interface Overlap {
  transfers: number;
  /** From the first acceptance to the last commit, in the command log. */
  ms: number;
  rate: number;
  /** How long submitting every transfer took (the API answering 202s). */
  submitMs: number;
  peakInFlight: number;
  averageInFlight: number;
  samples: number;
  cpu: Record<string, string>;
}

/** One transfer per certificate, submitted as fast as the API takes them, with `sent` commands sampled until all committed. */
async function transfersAtLatency(
  api: HttpClient,
  commands: CommandTable,
  certificateIds: readonly string[],
  pids: Record<string, number | undefined>,
): Promise<Overlap> {
  const prefix = certificateIds[0]!.replace(HOURLY_ID_SUFFIX, "-h");
  const sentCounts: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const states = await commands.states("transfer", prefix);
      sentCounts.push(states.sent ?? 0);
      await sleep(250);
    }
  })();
  const started = performance.now();
  const cpuBefore = cpuSnapshot(pids);
  await closedLoop(certificateIds.length, CONCURRENCY, async (index) => {
    const response = await api.request("POST", `/v1/certificates/${certificateIds[index]}/transfers`, { body: JSON.stringify({ to: "buyer" }), token: ADMIN_TOKEN });
    if (response.status !== 202) throw new Error(`transfer of ${certificateIds[index]} answered ${response.status}: ${response.text.slice(0, 300)}`);
  });
  const submitMs = performance.now() - started;
  console.error(`    ${certificateIds.length} transfers accepted in ${formatNumber(submitMs)} ms`);
  let done;
  try {
    done = await untilCommitted(commands, "transfer", prefix, certificateIds.length, "transfers");
  } finally {
    sampling = false;
    await sampler;
  }
  const cpu = cpuBetween(cpuBefore, cpuSnapshot(pids));
  const ms = done.lastFinishedAt!.getTime() - done.firstAcceptedAt!.getTime();
  const busy = sentCounts.filter((count) => count > 0);
  return {
    transfers: certificateIds.length,
    ms,
    rate: (certificateIds.length * 1000) / ms,
    submitMs: Math.round(submitMs),
    peakInFlight: Math.max(0, ...sentCounts),
    averageInFlight: busy.length === 0 ? 0 : busy.reduce((sum, count) => sum + count, 0) / busy.length,
    samples: sentCounts.length,
    cpu,
  };
}

/**
 * The connector alone, without the API's acceptance rate in the figure: the transfers are accepted
 * while the registry answers 503 `Registry-Received: false` (they wait, queued), then the registry
 * comes back; from that moment to the last commit in the book.
 */
async function backlogAtLatency(
  api: HttpClient,
  commands: CommandTable,
  certificateIds: readonly string[],
  setUnavailable: (mode: "off" | "503") => Promise<unknown>,
): Promise<{ transfers: number; ms: number; rate: number; peakInFlight: number }> {
  const prefix = certificateIds[0]!.replace(HOURLY_ID_SUFFIX, "-h");
  const since = new Date();
  await setUnavailable("503");
  await closedLoop(certificateIds.length, CONCURRENCY, async (index) => {
    const response = await api.request("POST", `/v1/certificates/${certificateIds[index]}/transfers`, { body: JSON.stringify({ to: "backlog-buyer" }), token: ADMIN_TOKEN });
    if (response.status !== 202) throw new Error(`transfer of ${certificateIds[index]} answered ${response.status}: ${response.text.slice(0, 300)}`);
  });
  console.error(`    backlog: ${certificateIds.length} transfers accepted while the registry is away`);
  const back = new Date();
  await setUnavailable("off");
  let peakInFlight = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakInFlight = Math.max(peakInFlight, (await commands.states("transfer", prefix, since)).sent ?? 0);
      await sleep(250);
    }
  })();
  let done;
  try {
    done = await untilCommitted(commands, "transfer", prefix, certificateIds.length, "backlog", since);
  } finally {
    sampling = false;
    await sampler;
  }
  const ms = done.lastFinishedAt!.getTime() - back.getTime();
  return { transfers: certificateIds.length, ms, rate: (certificateIds.length * 1000) / ms, peakInFlight };
}
