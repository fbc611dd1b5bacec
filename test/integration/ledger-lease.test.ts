import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LeaseTarget } from "../../src/mom/ledger/ledger.js";
import { PostgresDeliveryLedger } from "../../src/mom/ledger/postgres-ledger.js";
import { createSubscription } from "../support/fixtures.js";
import { expectOneHeadPerSubject, journalEntry } from "../support/ledger.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

/**
 * The lease on the ledger alone (no dispatcher runs, so the test is the only writer): live heads
 * a prefill snapshot covered are skipped rather than handed out, and a lease that skipped for
 * all its rounds says more may wait behind them.
 */
describe("leasing past the heads a snapshot covered", () => {
  let system: TestSystem;
  let ledger: PostgresDeliveryLedger;

  beforeAll(async () => {
    system = await startTestSystem({ env: { SERVICES: "producer,consumer" } });
    ledger = new PostgresDeliveryLedger(system.db);
  });
  afterAll(() => system?.destroy());

  it("says so when its rounds only skipped, and the next lease reaches the message behind them", async () => {
    const { id } = await createSubscription(system.api);
    const revision = (await system.db.selectFrom("subscription_changes").select("revision").executeTakeFirstOrThrow()).revision;
    // 700 heads the snapshot covered (more than the 10 rounds of 64 a first lease takes), then one it did not.
    const entries = Array.from({ length: 701 }, (_, index) => journalEntry(5_001 + index, `covered-${5_001 + index}`));
    const appended = await ledger.appendLive({
      routedRevision: revision,
      batches: [{ reader: "lease-test", position: 5_701, entries, deliveries: entries.map((e) => ({ subscriptionId: id, seq: e.seq, subject: e.subject })) }],
    });
    expect(appended).toMatchObject({ stale: false, created: new Map([[id, 701]]) });
    const target: LeaseTarget = { id, ackTimeoutSeconds: 30, maxDeliveries: 5, liveFromSeq: 5_701 };

    const first = await ledger.lease(target, 1000);
    expect(first).toMatchObject({ messages: [], more: true });
    const second = await ledger.lease(target, 1000);
    expect(second.messages.map((message) => message.sequence)).toEqual([5_701]);
    expect(second.more).toBeUndefined();
    expect((await ledger.stats(target)).pending).toBe(1);
    await expectOneHeadPerSubject(system.db, [id]);
  });
});
