import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { ack, createProducer, createSubscription, drain, issued, pull, type PulledMessage } from "../support/fixtures.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;
afterEach(async () => {
  await system?.destroy();
  system = undefined;
});

/** What a consumer stopped for `seconds` while `rate` per second were posted leaves behind: accept times spread back from now. */
async function backDate(db: TestSystem["db"], sequences: number[], seconds: number, rate: number) {
  await sql`
    UPDATE notifications n SET accepted_at = now() - make_interval(secs => ${seconds}) + make_interval(secs => (r.i - 1)::float8 / ${rate})
    FROM unnest(${sequences}::bigint[]) WITH ORDINALITY AS r(seq, i)
    WHERE n.seq = r.seq
  `.execute(db);
}

function metric(text: string, name: string, subscription: string): number | undefined {
  const line = text.split("\n").find((entry) => entry.startsWith(`${name}{subscription="${subscription}"}`));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

describe("lag and SLO telemetry", () => {
  it("shows the lag of a stopped consumer exactly, and publishes one lagging and one recovered per breach", async () => {
    system = await startTestSystem({ env: { CERTFLOW_SLO_CHECK_SECONDS: "1" } });
    const { api } = system;
    const producer = await createProducer(api);
    const operator = await createSubscription(api, { filters: [{ types: ["subscription.*"] }] });
    const { name, token } = await createSubscription(api, { filters: [{ types: ["certificate.*"] }], slo: { maxLagSeconds: 30 } });

    // The consumer is stopped for 60 s while 10 notifications a second are posted.
    const notifications = Array.from({ length: 600 }, (_, i) => issued(`cert-${i % 60}`, { version: 1 + Math.floor(i / 60) }));
    const posted = await api.post("/v1/notifications/batch", { notifications }, producer);
    expect(posted.status).toBe(202);
    const sequences = posted.body.results.map((result: { sequence: number }) => result.sequence) as number[];
    await eventually(async () => expect((await api.get(`/v1/subscriptions/${name}`, token)).body.stats.pending).toBe(600));
    await backDate(system.db, sequences, 60, 10);

    const described = await api.get(`/v1/subscriptions/${name}`, token);
    expect(described.body.slo).toEqual({ maxLagSeconds: 30 });
    const { stats } = described.body;
    expect(stats.pending).toBe(600);
    expect(stats.inFlight).toBe(0);
    expect(stats.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(60);
    expect(stats.oldestPendingAgeSeconds).toBeLessThanOrEqual(62);
    expect(stats).toMatchObject({ deliveredTotal: 0, ackedTotal: 0, ackFloorSequence: sequences[0]! - 1, lastDispatchedSequence: sequences[599] });
    const scraped = await api.get("/metrics");
    expect(metric(scraped.body, "certflow_subscription_pending", name)).toBe(600);
    const scrapedAge = metric(scraped.body, "certflow_subscription_oldest_pending_age_seconds", name)!;
    expect(scrapedAge).toBeGreaterThanOrEqual(60);
    expect(scrapedAge).toBeLessThanOrEqual(62);
    await eventually(async () => expect((await api.get(`/v1/subscriptions/${name}`, token)).body.stats.slo).toMatchObject({ breaches: 1, laggingSince: expect.any(String) }));

    // The consumer comes back and catches up: the breach ends.
    expect(await drain(api, name, token, 600, 60_000)).toHaveLength(600);
    await eventually(async () => expect((await api.get(`/v1/subscriptions/${name}`, token)).body.stats.slo).toEqual({ maxLagSeconds: 30, laggingSince: null, breaches: 1 }));
    const caughtUp = (await api.get(`/v1/subscriptions/${name}`, token)).body.stats;
    expect(caughtUp).toMatchObject({ pending: 0, oldestPendingAgeSeconds: 0, deliveredTotal: 600, ackedTotal: 600, attemptsPerMessage: 1 });
    expect(caughtUp.ackLatencySeconds.p50).toBeGreaterThanOrEqual(30);
    expect(caughtUp.ackLatencySeconds.p95).toBeGreaterThanOrEqual(caughtUp.ackLatencySeconds.p50);
    expect(caughtUp.ackLatencySeconds.p99).toBeGreaterThanOrEqual(caughtUp.ackLatencySeconds.p95);
    expect(caughtUp.ackLatencySeconds.p99).toBeGreaterThanOrEqual(57);
    const after = await api.get("/metrics");
    expect(metric(after.body, "certflow_subscription_acked", name)).toBe(600);
    expect(metric(after.body, "certflow_subscription_slo_breaches", name)).toBe(1);

    // A second breach is the sentinel: everything before it on this subject has been published.
    const late = await api.post("/v1/notifications", issued("cert-late"), producer);
    await eventually(async () => expect((await api.get(`/v1/subscriptions/${name}`, token)).body.stats.pending).toBe(1));
    await backDate(system.db, [late.body.sequence], 100, 1);
    const events: PulledMessage[] = [];
    await eventually(
      async () => {
        const batch = await pull(api, operator.name, operator.token, "max=100&wait=1");
        events.push(...batch);
        await ack(api, operator.name, operator.token, batch);
        expect(events.filter((event) => event.notification.type === "subscription.lagging")).toHaveLength(2);
      },
      { timeoutMs: 30_000, what: "the second breach" },
    );
    const about = events.filter((event) => event.notification.subject === name);
    expect(about.map((event) => event.notification.type)).toEqual(["subscription.lagging", "subscription.recovered", "subscription.lagging"]);
    expect(about[0]!.notification.data).toMatchObject({ subscription: name, maxLagSeconds: 30, pending: 600 });
    expect(about[0]!.notification.data.oldestPendingAgeSeconds).toBeGreaterThan(30);
    expect(about[1]!.notification.data).toMatchObject({ pending: 0, oldestPendingAgeSeconds: 0 });
    expect((await api.get(`/v1/subscriptions/${name}`, ADMIN_TOKEN)).body.stats.slo.breaches).toBe(2);
  }, 180_000);

  it("declares, changes and drops an SLO with PATCH", async () => {
    system = await startTestSystem();
    const { api } = system;
    const { name } = await createSubscription(api);
    expect((await api.patch(`/v1/subscriptions/${name}`, { slo: { maxLagSeconds: 5 } }, ADMIN_TOKEN)).body.slo).toEqual({ maxLagSeconds: 5 });
    expect((await api.get(`/v1/subscriptions/${name}`, ADMIN_TOKEN)).body.stats.slo).toEqual({ maxLagSeconds: 5, laggingSince: null, breaches: 0 });
    expect((await api.patch(`/v1/subscriptions/${name}`, { slo: null }, ADMIN_TOKEN)).body.slo).toBeNull();
    const refused = await api.patch(`/v1/subscriptions/${name}`, { slo: { maxLagSeconds: 0 } }, ADMIN_TOKEN);
    expect(refused.status).toBe(400);
  });
});
