import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { sql } from "kysely";
import { eventually } from "../support/eventually.js";
import { afterEach, expect, it } from "vitest";
import { Api } from "../support/api.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { registryNotification } from "../../src/certificates/book/envelopes.js";
import { cancelledAnnual, registerAnnual, requestConversion, waitForConversion } from "../support/registry.js";
import { serveRegistry } from "../support/registry-server.js";
import { ADMIN_TOKEN, NATS_URL, isolation, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
let producer: ServiceProcess | undefined;
let registry: Awaited<ReturnType<typeof serveRegistry>> | undefined;

afterEach(async () => {
  if (producer && producer.child.exitCode === null) {
    producer.child.kill("SIGKILL");
    await producer.exited;
  }
  producer = undefined;
  await system?.destroy();
  system = undefined;
  await registry?.close();
  registry = undefined;
});


it("a producer killed mid-conversion converts each certificate exactly once after restart", async () => {
  const iso = isolation();
  // This process runs the dispatcher (which journals every notification); the producer runs on its own and is killed.
  system = await startTestSystem({ isolation: iso, env: { SERVICES: "dispatcher" } });
  // The registry outlives the killed process, as an external one would.
  registry = await serveRegistry();
  const producerEnv = { ...iso.env, SERVICES: "certificates,connector", CERTFLOW_CONVERSION_WORKERS: "1", CERTFLOW_REGISTRY_URL: registry.url };
  producer = await startServiceProcess(producerEnv);
  let api = new Api(producer.url);

  // Three conversions, one at a time (one worker): the kill lands while one is half published.
  const annuals = [
    await cancelledAnnual(api, ADMIN_TOKEN, { quantityWh: 1_000_000_007 }),
    await cancelledAnnual(api, ADMIN_TOKEN, { year: 2024, quantityWh: 123_456_789 }),
    await cancelledAnnual(api, ADMIN_TOKEN, { quantityWh: 8_760_000 }),
  ];
  const profile = (hours: number) => ({ kind: "hourly", valuesWh: Array.from({ length: hours }, (_, hour) => 1 + (hour % 24)) });
  const conversions = [
    await requestConversion(api, ADMIN_TOKEN, { annualCertificateId: annuals[0]!.certificateId, profile: { kind: "uniform" } }),
    await requestConversion(api, ADMIN_TOKEN, { annualCertificateId: annuals[1]!.certificateId, profile: profile(8784) }),
    await requestConversion(api, ADMIN_TOKEN, { annualCertificateId: annuals[2]!.certificateId, profile: profile(8760) }),
  ];

  // Kill -9 as soon as a conversion has written its hours but published only part of them.
  let midway: { id: string; hoursPublished: number; hours: number } | undefined;
  const deadline = Date.now() + 60_000;
  while (!midway && Date.now() < deadline) {
    for (const id of conversions) {
      const { body } = await api.get(`/v1/conversions/${id}`, ADMIN_TOKEN);
      if (body.status === "persisted" && body.progress.hoursPublished < body.counts.hours) {
        midway = { id, hoursPublished: body.progress.hoursPublished, hours: body.counts.hours };
        break;
      }
    }
  }
  expect(midway, "a conversion was caught between persisting and finishing").toBeDefined();
  producer.child.kill("SIGKILL");
  await producer.exited;

  // The crash really left work half done: that conversion is not done, its hours are there.
  const left = await system.db.selectFrom("conversions").select(["id", "status", "hours_published"]).where("status", "<>", "done").execute();
  expect(left.map((row) => row.id)).toContain(midway!.id);

  producer = await startServiceProcess(producerEnv);
  api = new Api(producer.url);
  for (const id of conversions) {
    const done = await waitForConversion(api, ADMIN_TOKEN, id, "done", 90_000);
    expect(done.validation.valid).toBe(true);
  }
  expect(producer.logs.find((line) => line.msg === "conversion resumed" && line.conversionId === midway!.id)).toMatchObject({ status: "persisted" });

  for (const [index, annual] of annuals.entries()) {
    const hours = index === 1 ? 8784 : 8760;
    const rows = await sql<{ count: number; distinct_hours: number; total: string }>`
      SELECT count(*)::int AS count, count(DISTINCT period_start)::int AS distinct_hours, sum(quantity_wh)::text AS total
      FROM registry_certificates WHERE parent_certificate_id = ${annual.certificateId}
    `.execute(system.db);
    expect(rows.rows[0]).toEqual({ count: hours, distinct_hours: hours, total: String(annual.quantityWh) });
    const certificate = await api.get(`/v1/certificates/${annual.certificateId}`, ADMIN_TOKEN);
    expect(certificate.body).toMatchObject({ status: "cancelled", version: 2, conversionId: conversions[index] });
  }

  // Every hour issued exactly once: one certificate.issued per hourly certificate in the journal,
  // one certificate.converted per annual one, and the stream holds nothing the journal does not.
  const expectedTotal = 3 * 3 + 8760 + 8784 + 8760; // issued + cancelled + converted per annual, plus the hours
  // Each registry command (3 issues, 3 cancels, one issue per hour) is journaled accepted, sent and committed.
  const registryEvents = 3 * (3 * 2 + 8760 + 8784 + 8760);
  type Journal = { total: number; issued_hourly: number; hourly_subjects: number; converted: number };
  const journal = await eventually(
    async () => {
      const result = await sql<Journal>`
      SELECT count(*) FILTER (WHERE type LIKE 'certificate.%')::int AS total,
        count(*) FILTER (WHERE type = 'certificate.issued' AND subject LIKE '%-h%')::int AS issued_hourly,
        count(DISTINCT subject) FILTER (WHERE type = 'certificate.issued' AND subject LIKE '%-h%')::int AS hourly_subjects,
        count(*) FILTER (WHERE type = 'certificate.converted')::int AS converted
      FROM notifications
    `.execute(system!.db);
      const found = result.rows[0]!;
      expect(found.total).toBeGreaterThanOrEqual(expectedTotal);
      return found;
    },
    { timeoutMs: 120_000, what: "every certificate notification journaled" },
  );
  expect(journal).toEqual({ total: expectedTotal, issued_hourly: 8760 + 8784 + 8760, hourly_subjects: 8760 + 8784 + 8760, converted: 3 });
  const nc = await connect({ servers: NATS_URL });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(`${iso.id}_NOTIFICATIONS`);
    expect(info.state.messages, "no hour was published twice to the stream").toBe(expectedTotal + registryEvents);
  } finally {
    await nc.close();
  }
}, 180_000);

it("publishes at start-up what a crash left in the outbox: a committed change is never lost", async () => {
  const iso = isolation();
  const first = await startTestSystem({ isolation: iso });
  const certificate = await registerAnnual(first.api, ADMIN_TOKEN);
  await first.stop();

  // What a crash between commit and publish leaves: the change and its notification, committed, unpublished.
  const cancelled = registryNotification(
    { type: "certificate.cancelled", state: { ...stateOf(certificate), status: "cancelled", version: 2 }, time: new Date() },
    "test",
  );
  await first.db.transaction().execute(async (trx) => {
    await trx.updateTable("registry_certificates").set({ status: "cancelled", version: 2 }).where("certificate_id", "=", certificate.certificateId).execute();
    await trx.insertInto("registry_outbox").values({ id: cancelled.id, subject: cancelled.subject, envelope: JSON.stringify(cancelled) }).execute();
  });
  await first.db.destroy();

  system = await startTestSystem({ isolation: iso });
  const types = await eventually(async () => {
    const history = await system!.api.get(`/v1/certificates/${certificate.certificateId}/history`, ADMIN_TOKEN);
    const found: string[] = history.body.notifications.map((entry: { notification: { type: string; id: string } }) => entry.notification.type);
    expect(found.length).toBeGreaterThanOrEqual(2);
    return found;
  });
  expect(types).toEqual(["certificate.issued", "certificate.cancelled"]);
  const left = await system.db.selectFrom("registry_outbox").select("id").execute();
  expect(left).toEqual([]);
});

function stateOf(certificate: Record<string, any>) {
  const { certificateId, kind, deviceId, gridArea, energySource, periodStart, periodEnd, quantityWh, owner, status, version } = certificate;
  return { certificateId, kind, deviceId, gridArea, energySource, periodStart, periodEnd, quantityWh, owner, status, version };
}
