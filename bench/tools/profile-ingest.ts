/**
 * Diagnostic: drives only one kind of ingest request at a certflow process (SERVICES=producer
 * unless BENCH_INGEST_SERVICES says otherwise), to see where its time goes. Run:
 *   BENCH_CPU_PROF=1 npx tsx bench/tools/profile-ingest.ts single 8000   (32 in flight)
 *   BENCH_CPU_PROF=1 npx tsx bench/tools/profile-ingest.ts batch 30000   (1,000 per batch, 4 in flight)
 *   npx tsx bench/tools/profile-summary.ts bench/results/profiles/ingest-single 30
 */
import { createProducer, postBatch } from "../lib/certflow-api.js";
import { runAllCleanups } from "../lib/cleanup.js";
import { cpuBetween, cpuSnapshot } from "../lib/cpu.js";
import { isolationId } from "../lib/env.js";
import { HttpClient } from "../lib/http-client.js";
import { chunk } from "../lib/measure.js";
import { notificationInput, subjectOf } from "../lib/payload.js";
import { closedLoop } from "../lib/progress.js";
import { startCertflow } from "../lib/system-process.js";

const kind = process.argv[2] === "batch" ? "batch" : "single";
const total = Number(process.argv[3] ?? (kind === "batch" ? 30_000 : 8_000));
const system = await startCertflow({
  id: isolationId("profile"),
  services: process.env.BENCH_INGEST_SERVICES ?? "producer",
  profileName: `ingest-${kind}`,
});
const client = new HttpClient(system.url, 32);
try {
  const producer = await createProducer(client, "bench-producer");
  const inputs = Array.from({ length: total }, (_, index) => notificationInput(subjectOf(`profile-${kind}`, index), index));
  const before = cpuSnapshot({ certflow: system.child.pid });
  const started = performance.now();
  if (kind === "batch") {
    const batches = chunk(inputs, 1000);
    await closedLoop(batches.length, 4, async (index) => {
      await postBatch(client, producer, batches[index]!);
    });
  } else {
    await closedLoop(total, 32, async (index) => {
      const response = await client.request("POST", "/v1/notifications", { body: JSON.stringify(inputs[index]), token: producer.token });
      if (response.status !== 202) throw new Error(`${response.status} ${response.text}`);
    });
  }
  const ms = performance.now() - started;
  console.log(`${total} notifications (${kind}) in ${ms.toFixed(0)} ms = ${((total * 1000) / ms).toFixed(0)}/s`);
  console.log(cpuBetween(before, cpuSnapshot({ certflow: system.child.pid })));
} finally {
  client.close();
  await system.destroy();
  await runAllCleanups();
}
