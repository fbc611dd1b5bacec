/**
 * Diagnostic: drives only single POST /v1/notifications (32 in flight) at a certflow process run
 * with --cpu-prof, to see where a single request's time goes. Run:
 *   BENCH_CPU_PROF=1 npx tsx bench/tools/profile-single.ts [requests]
 *   npx tsx bench/tools/profile-summary.ts bench/results/profiles/single 30
 */
import { createProducer } from "../lib/certflow-api.js";
import { runAllCleanups } from "../lib/cleanup.js";
import { isolationId } from "../lib/env.js";
import { HttpClient } from "../lib/http-client.js";
import { notificationInput, subjectOf } from "../lib/payload.js";
import { closedLoop } from "../lib/progress.js";
import { cpuBetween, cpuSnapshot } from "../lib/cpu.js";
import { startCertflow } from "../lib/system-process.js";

const total = Number(process.argv[2] ?? 10_000);
const system = await startCertflow({ id: isolationId("single"), services: process.env.BENCH_INGEST_SERVICES ?? "producer", profileName: "single" });
const client = new HttpClient(system.url, 32);
try {
  const producer = await createProducer(client, "bench-producer");
  const inputs = Array.from({ length: total }, (_, index) => notificationInput(subjectOf("single", index), index));
  const before = cpuSnapshot({ certflow: system.child.pid });
  const started = performance.now();
  await closedLoop(total, 32, async (index) => {
    const response = await client.request("POST", "/v1/notifications", { body: JSON.stringify(inputs[index]), token: producer.token });
    if (response.status !== 202) throw new Error(`${response.status} ${response.text}`);
  });
  const ms = performance.now() - started;
  console.log(`${total} requests in ${ms.toFixed(0)} ms = ${((total * 1000) / ms).toFixed(0)}/s`, cpuBetween(before, cpuSnapshot({ certflow: system.child.pid })));
} finally {
  client.close();
  await system.destroy();
  await runAllCleanups();
}
