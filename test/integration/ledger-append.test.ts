import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lease } from "../../src/mom/cluster/leases.js";
import { PostgresWorkLeases } from "../../src/mom/cluster/postgres-leases.js";
import type { ReaderBatch } from "../../src/mom/ledger/ledger.js";
import { PostgresDeliveryLedger } from "../../src/mom/ledger/postgres-ledger.js";
import type { Executor } from "../../src/core/db/schema.js";
import { bumpRevision } from "../../src/consumer/subscriptions/subscription-store.js";
import { eventually } from "../support/eventually.js";
import { createSubscription } from "../support/fixtures.js";
import { expectOneHeadPerSubject, journalEntry } from "../support/ledger.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

/**
 * The dispatcher's append, on the ledger alone: one statement carries the batches of several
 * readers, each guarded by its own lease, all by the subscriptions' revision they were routed with.
 * No dispatcher runs here, so the test is the only writer.
 */
describe("appending several readers' batches at once", () => {
  let system: TestSystem;
  let ledger: PostgresDeliveryLedger;
  let leases: PostgresWorkLeases;
  let subscriptionId: string;
  let seq = 1_000;

  beforeAll(async () => {
    system = await startTestSystem({ env: { SERVICES: "producer,consumer" } });
    ledger = new PostgresDeliveryLedger(system.db);
    leases = new PostgresWorkLeases(system.db);
    subscriptionId = (await createSubscription(system.api)).id;
  });
  afterAll(() => system?.destroy());

  const revision = async () => (await system.db.selectFrom("subscription_changes").select("revision").executeTakeFirstOrThrow()).revision;

  function batch(reader: string, lease: Lease | undefined, subjects: string[]): ReaderBatch {
    const entries = subjects.map((subject) => journalEntry(++seq, subject));
    const deliveries = entries.map((entry) => ({ subscriptionId, seq: entry.seq, subject: entry.subject }));
    return { reader, position: entries[entries.length - 1]!.seq, lease, entries, deliveries };
  }

  async function leaseFor(name: string, owner: string): Promise<Lease> {
    await leases.ensure("append-test", [name]);
    const lease = await leases.acquire(name, owner, 60);
    expect(lease, `lease ${name} for ${owner}`).toBeDefined();
    return lease!;
  }

  const journaled = async (batch: ReaderBatch) =>
    (await system.db.selectFrom("notifications").select("seq").where("seq", "in", batch.entries.map((entry) => entry.seq)).execute()).length;

  it("writes the batches whose lease is held and refuses, alone, the one whose lease moved on", async () => {
    const held = await leaseFor("append-test.held", "process-a");
    const stale = await leaseFor("append-test.moved", "process-a");
    await sql`UPDATE work_leases SET expires_at = now() - interval '1 second' WHERE name = ${stale.name}`.execute(system.db);
    await leaseFor("append-test.moved", "process-b");

    const kept = batch("append-test.held", held, ["s-1", "s-2", "s-1"]);
    const refused = batch("append-test.moved", stale, ["s-3"]);
    const unguarded = batch("append-test.single", undefined, ["s-4"]);
    const outcome = await ledger.appendLive({ routedRevision: await revision(), batches: [refused, kept, unguarded] });

    expect(outcome).toEqual({ stale: false, created: new Map([[subscriptionId, 4]]), lostReaders: new Set(["append-test.moved"]) });
    expect(await journaled(kept)).toBe(3);
    expect(await journaled(unguarded)).toBe(1);
    expect(await journaled(refused)).toBe(0);
    expect(await ledger.position("append-test.held")).toBe(kept.position);
    expect(await ledger.position("append-test.single")).toBe(unguarded.position);
    expect(await ledger.position("append-test.moved")).toBe(0);
    await expectOneHeadPerSubject(system.db, [subscriptionId]);
  });

  it("leases a batch bigger than the first look's in sequence order, each message once", async () => {
    const subjects = Array.from({ length: 150 }, (_, index) => `big-${index}`);
    const big = batch("append-test.single", undefined, subjects);
    await ledger.appendLive({ routedRevision: await revision(), batches: [big] });
    const target = { id: subscriptionId, ackTimeoutSeconds: 60, maxDeliveries: 5, liveFromSeq: 0 };
    // Everything before, earlier tests' messages included, out of the way.
    for (let leased = await ledger.lease(target, 1_000); leased.messages.length > 0; leased = await ledger.lease(target, 1_000)) {
      await ledger.ack(subscriptionId, leased.messages.map((message) => message.ackId));
    }

    const more = batch("append-test.single", undefined, subjects);
    await ledger.appendLive({ routedRevision: await revision(), batches: [more] });
    const { messages } = await ledger.lease(target, 100);
    expect(messages.map((message) => message.sequence)).toEqual(more.entries.slice(0, 100).map((entry) => entry.seq));
    const rest = await ledger.lease(target, 100);
    expect(rest.messages.map((message) => message.sequence)).toEqual(more.entries.slice(100).map((entry) => entry.seq));
    expect((await ledger.lease(target, 100)).messages).toEqual([]);
    await expectOneHeadPerSubject(system.db, [subscriptionId]);
  });

  it("writes nothing when the subscriptions changed after the routing, and says so", async () => {
    const routedRevision = await revision();
    await createSubscription(system.api);
    const late = batch("append-test.single", undefined, ["s-5"]);

    expect(await ledger.appendLive({ routedRevision, batches: [late] })).toEqual({ stale: true });
    expect(await journaled(late)).toBe(0);

    const again = await ledger.appendLive({ routedRevision: await revision(), batches: [late] });
    expect(again).toEqual({ stale: false, created: new Map([[subscriptionId, 1]]), lostReaders: new Set() });
    expect(await journaled(late)).toBe(1);
  });

  /**
   * Whether the open transaction holds a lock another backend waits for. Asked on the
   * transaction's own connection (the test pool has two) from the live lock table.
   */
  async function blocksAnother(trx: Executor): Promise<boolean> {
    const result = await sql<{ waiting: number }>`
      SELECT count(*)::int AS waiting FROM pg_locks l WHERE NOT l.granted AND pg_backend_pid() = ANY(pg_blocking_pids(l.pid))
    `.execute(trx);
    return result.rows[0]!.waiting > 0;
  }

  it("makes a subscription change wait for an append routed without it; the journal's head then covers that append", async () => {
    const routedRevision = await revision();
    const trx = await system.db.startTransaction().execute();
    let created = false;
    try {
      const unseen = batch("append-test.single", undefined, ["s-6"]);
      expect(await new PostgresDeliveryLedger(trx).appendLive({ routedRevision, batches: [unseen] })).toMatchObject({ stale: false });

      const creating = createSubscription(system.api).then((subscription) => {
        created = true;
        return subscription;
      });
      await eventually(() => blocksAnother(trx), { what: "the subscription's creation waiting for the open append" });
      expect(created).toBe(false);
      await trx.commit().execute();
      await creating;
      expect(await revision()).toBe(routedRevision + 1);
      expect(await ledger.journaledThrough()).toBeGreaterThanOrEqual(unseen.position);
    } catch (error) {
      await trx.rollback().execute().catch(() => undefined);
      throw error;
    }
  });

  it("has an append that waited for a subscription change read the moved revision and write nothing", async () => {
    const routedRevision = await revision();
    const trx = await system.db.startTransaction().execute();
    try {
      await bumpRevision(trx);
      const late = batch("append-test.single", undefined, ["s-7"]);
      const appending = ledger.appendLive({ routedRevision, batches: [late] });
      await eventually(() => blocksAnother(trx), { what: "the append waiting for the open subscription change" });
      await trx.commit().execute();
      expect(await appending).toEqual({ stale: true });
      expect(await journaled(late)).toBe(0);
    } catch (error) {
      await trx.rollback().execute().catch(() => undefined);
      throw error;
    }
  });
});
