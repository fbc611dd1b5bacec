/**
 * Diagnostic: where PostgreSQL's time goes in an accept-to-ack run. Starts a PostgreSQL cluster
 * of its own (temporary data directory, a free port, pg_stat_statements preloaded; the shared
 * server is never touched), runs the peers' certflow throughput run against it, and prints the
 * statements by total execution time, with calls, rows, mean time and planning time. Run as root
 * (the cluster runs as the postgres user):
 *   npx tsx bench/tools/statement-profile.ts [subscriptions=10] [notifications=5000]
 *   npx tsx bench/tools/statement-profile.ts latency     (the peers' latency run: 1 subscription at a steady rate)
 */
import { execFileSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import pg from "pg";

const BIN = "/usr/lib/postgresql/15/bin";
const latencyMode = process.argv[2] === "latency";
const subscriptions = latencyMode ? 1 : Number(process.argv[2] ?? 10);
const notifications = Number(process.argv[3] ?? 5_000);
const WARMUP = 500;

interface TableWrites {
  name: string;
  ins: number;
  upd: number;
  hot: number;
  del: number;
}

const port = await new Promise<number>((resolve) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const address = server.address();
    server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
  });
});
const directory = mkdtempSync(`${tmpdir()}/certflow-pgss-`);
chownSync(directory, Number(execFileSync("id", ["-u", "postgres"]).toString()), Number(execFileSync("id", ["-g", "postgres"]).toString()));
const asPostgres = (command: string, args: string[]) => execFileSync("runuser", ["-u", "postgres", "--", `${BIN}/${command}`, ...args], { stdio: "pipe" });
const options = `-p ${port} -k ${directory} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on -c max_connections=200`;

console.log(`private PostgreSQL on 127.0.0.1:${port} (${directory})`);
asPostgres("initdb", ["-D", `${directory}/data`, "-A", "trust", "-U", "postgres"]);
asPostgres("pg_ctl", ["-D", `${directory}/data`, "-o", options, "-l", `${directory}/log`, "-w", "start"]);
const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
try {
  await admin.connect();
  await admin.query("CREATE EXTENSION pg_stat_statements");
  // The bench modules read their database from the environment when they load.
  process.env.BENCH_DATABASE_URL = `postgres://postgres@127.0.0.1:${port}/certflow_bench`;
  const { throughputRun, latencyRun } = await import("../lib/peer.js");
  const { certflowPeer } = await import("../lib/certflow-peer.js");
  const { runAllCleanups } = await import("../lib/cleanup.js");
  try {
    const open = certflowPeer();
    if (latencyMode) {
      const run = await latencyRun(async (count) => {
        const peer = await open(count);
        await admin.query("SELECT pg_stat_statements_reset()");
        return peer;
      }, 5_000);
      console.log(`\nlatency run: ${Math.round(run.rate)}/s, send to receive p50 ${run.fromSend.p50.toFixed(1)} ms, p99 ${run.fromSend.p99.toFixed(1)} ms`);
    } else {
      let byTable: TableWrites[] = [];
      const result = await throughputRun(async (count) => {
        const peer = await open(count);
        await admin.query("SELECT pg_stat_statements_reset()");
        const rowsWritten = peer.rowsWritten!.bind(peer);
        // Read per table once the system's backends have exited (they report their counts then).
        peer.rowsWritten = async () => {
          const rows = await rowsWritten();
          byTable = await tableWrites();
          return rows;
        };
        return peer;
      }, { subscriptions, notifications, batchSize: 500, batchesInFlight: 4, warmup: WARMUP, timeoutMs: 600_000 });
      console.log(`\n${subscriptions} subscription(s), ${notifications} notifications: ${Math.round(result.rate)}/s, rows per delivery ${result.rowsPerDelivery?.toFixed(2)}`);
      const deliveries = (notifications + WARMUP) * subscriptions;
      console.log(`rows written per delivery by table (inserted + updated + deleted; HOT updates among them; the run's ${deliveries} deliveries, warm-up included):`);
      for (const table of byTable) {
        const per = (value: number) => (value / deliveries).toFixed(2);
        console.log(`- ${table.name.padEnd(24)} ins ${per(table.ins)}  upd ${per(table.upd)} (hot ${per(table.hot)})  del ${per(table.del)}`);
      }
    }
  } finally {
    await runAllCleanups();
  }
  const top = await admin.query<{ calls: string; total: number; mean: number; plan: number; rows: string; query: string }>(`
    SELECT calls, total_exec_time AS total, mean_exec_time AS mean, mean_plan_time AS plan, rows, regexp_replace(query, '\\s+', ' ', 'g') AS query
    FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%'
    ORDER BY total_exec_time DESC LIMIT 12`);
  const all = await admin.query<{ total: number; plan: number }>(`SELECT sum(total_exec_time) AS total, sum(total_plan_time) AS plan FROM pg_stat_statements`);
  console.log(`\nstatements by total time (all: ${Math.round(all.rows[0]!.total)} ms executing, ${Math.round(all.rows[0]!.plan)} ms planning)`);
  for (const row of top.rows) {
    console.log(`- ${Math.round(row.total).toString().padStart(7)} ms ${row.calls.padStart(7)} calls ${row.mean.toFixed(2).padStart(8)} ms/call (+${row.plan.toFixed(2)} planning) ${row.rows.padStart(8)} rows  ${row.query.slice(0, 140)}`);
  }
} finally {
  await admin.end().catch(() => {});
  asPostgres("pg_ctl", ["-D", `${directory}/data`, "-m", "fast", "-w", "stop"]);
  rmSync(directory, { recursive: true, force: true });
}

/** Writes by table of the system's schema (the only one in this private cluster with a deliveries table). */
async function tableWrites(): Promise<TableWrites[]> {
  const client = new pg.Client({ connectionString: process.env.BENCH_DATABASE_URL });
  await client.connect();
  try {
    const result = await client.query<{ name: string; ins: string; upd: string; hot: string; del: string }>(`
      SELECT relname AS name, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_hot_upd AS hot, n_tup_del AS del FROM pg_stat_user_tables
      WHERE schemaname IN (SELECT table_schema FROM information_schema.tables WHERE table_name = 'deliveries')
        AND n_tup_ins + n_tup_upd + n_tup_del > 0
      ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC`);
    return result.rows.map((row) => ({ name: row.name, ins: Number(row.ins), upd: Number(row.upd), hot: Number(row.hot), del: Number(row.del) }));
  } finally {
    await client.end();
  }
}
