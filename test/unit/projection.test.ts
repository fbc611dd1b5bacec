import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/core/logger.js";
import { IngestActivity } from "../../src/core/notifications/ingest-activity.js";
import type { StreamMessage } from "../../src/mom/broker.js";
import { Projection } from "../../src/prefill/projection.js";
import type { CertificateStateStore, StateChange } from "../../src/prefill/read-model/certificate-states.js";
import { eventually } from "../support/eventually.js";
import { certificate } from "../support/fixtures.js";

class MemoryStore implements CertificateStateStore {
  readonly applied: Array<{ position: number; changes: StateChange[] }> = [];
  async position(): Promise<number> {
    return this.applied.at(-1)?.position ?? 0;
  }
  async apply(_reader: string, position: number, changes: StateChange[]): Promise<void> {
    this.applied.push({ position, changes });
  }
}

const encoder = new TextEncoder();
const message = (seq: number, value: unknown): StreamMessage => ({ seq, data: encoder.encode(JSON.stringify(value)) });
const notification = (seq: number, data: Record<string, unknown>) => message(seq, { type: "certificate.issued", data });

function setup(maxDeferMs = 60_000) {
  const store = new MemoryStore();
  const activity = new IngestActivity(5);
  return { store, activity, projection: new Projection(store, createLogger("silent"), activity, maxDeferMs) };
}

describe("Projection", () => {
  it("takes each notification's certificate state, normalised, and skips what has none", async () => {
    const { store, projection } = setup();
    await projection.handle([
      notification(1, certificate({ certificateId: "a", previousOwner: "x", periodStart: "2025-01-01T01:00:00+01:00" })),
      message(2, { type: "subscription.lagging", data: { subscription: "s" } }),
      notification(3, certificate({ certificateId: "b", quantityWh: -1 })),
      { seq: 4, data: encoder.encode("not json") },
    ]);
    expect(store.applied).toEqual([{ position: 4, changes: [{ seq: 1, state: certificate({ certificateId: "a", periodStart: "2025-01-01T00:00:00.000Z" }) }] }]);
  });

  it("waits while this process's producer is busy and behind it, and projects once ingest is idle", async () => {
    const { store, activity, projection } = setup();
    activity.begin();
    activity.end(10);
    activity.begin();
    const handled = projection.handle([notification(5, certificate())]);
    // Still busy: nothing applied yet, however often it is looked at.
    await Promise.resolve();
    expect(store.applied).toEqual([]);
    activity.end(20);
    await handled;
    expect(store.applied.map((batch) => batch.position)).toEqual([5]);
  });

  it("does not wait when it has caught up with ingest, or when ingest is idle", async () => {
    const { store, activity, projection } = setup();
    activity.begin();
    activity.end(10);
    activity.begin();
    await projection.handle([notification(10, certificate())]);
    activity.end(10);
    await eventually(() => !activity.busy(), { what: "ingest to go quiet" });
    await projection.handle([notification(11, certificate())]);
    expect(store.applied.map((batch) => batch.position)).toEqual([10, 11]);
  });

  it("waits no longer than maxDeferMs since it was last caught up, however busy ingest stays", async () => {
    const { store, activity, projection } = setup(50);
    activity.begin();
    activity.end(1_000);
    activity.begin();
    const started = performance.now();
    await projection.handle([notification(1, certificate())]);
    await projection.handle([notification(2, certificate())]);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(store.applied.map((batch) => batch.position)).toEqual([1, 2]);
    activity.end();
  });
});
