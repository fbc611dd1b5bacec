import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import pino from "pino";
import { WorkCoordinator } from "../../src/mom/cluster/coordinator.js";
import type { Lease, LeaseRecord, ProcessIdentity, ProcessRecord, WorkLeases } from "../../src/mom/cluster/leases.js";

/** The lease rules of the PostgreSQL adapter, in memory, on the (fake) clock. */
class MemoryLeases implements WorkLeases {
  readonly rows = new Map<string, LeaseRecord>();
  readonly registry = new Map<string, ProcessRecord>();
  readonly history: Array<{ name: string; owner: string; epoch: number }> = [];

  async heartbeat(process: ProcessIdentity) {
    const known = this.registry.get(process.id);
    this.registry.set(process.id, { ...process, startedAt: known?.startedAt ?? new Date(), heartbeatAt: new Date() });
  }
  async leave(processId: string) {
    this.registry.delete(processId);
  }
  async liveProcesses(service: string, ttlSeconds: number) {
    return [...this.registry.values()]
      .filter((process) => process.services.includes(service) && Date.now() - process.heartbeatAt.getTime() < ttlSeconds * 1000)
      .map((process) => process.id);
  }
  async ensure(group: string, names: readonly string[]) {
    for (const name of names) if (!this.rows.has(name)) this.rows.set(name, { name, group, owner: null, epoch: 0, acquiredAt: null, expiresAt: null });
  }
  private isFree(row: LeaseRecord) {
    return row.owner === null || (row.expiresAt !== null && row.expiresAt.getTime() < Date.now());
  }
  async free(group: string) {
    return [...this.rows.values()].filter((row) => row.group === group && this.isFree(row)).map((row) => row.name).sort();
  }
  async acquire(name: string, owner: string, ttlSeconds: number) {
    const row = this.rows.get(name);
    if (!row || !this.isFree(row)) return undefined;
    Object.assign(row, { owner, epoch: row.epoch + 1, acquiredAt: new Date(), expiresAt: new Date(Date.now() + ttlSeconds * 1000) });
    this.history.push({ name, owner, epoch: row.epoch });
    return { name, owner, epoch: row.epoch };
  }
  async renew(owner: string, leases: readonly Lease[], ttlSeconds: number) {
    const kept = new Set<string>();
    for (const lease of leases) {
      const row = this.rows.get(lease.name);
      if (row && row.owner === owner && row.epoch === lease.epoch) {
        row.expiresAt = new Date(Date.now() + ttlSeconds * 1000);
        kept.add(lease.name);
      }
    }
    return kept;
  }
  async release(lease: Lease) {
    const row = this.rows.get(lease.name);
    if (row && row.owner === lease.owner && row.epoch === lease.epoch) Object.assign(row, { owner: null, expiresAt: null });
  }
  async processes() {
    return [...this.registry.values()];
  }
  async leases() {
    return [...this.rows.values()];
  }
}

/** A process's view of the store that can be cut off, as a network partition would. */
function cuttable(store: WorkLeases) {
  let cut = false;
  const proxy = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => (cut ? Promise.reject(new Error("database unreachable")) : value.apply(target, args));
    },
  });
  return { store: proxy, cut: () => (cut = true) };
}

const UNITS = ["p0", "p1", "p2", "p3", "p4", "p5"];
const logger = pino({ level: "silent" });

function node(store: WorkLeases, id: string) {
  const working = new Set<string>();
  const link = cuttable(store);
  const coordinator = new WorkCoordinator(link.store, { id, services: ["dispatcher"], host: "h", pid: 1 }, { leaseSeconds: 3 }, logger);
  coordinator.share({
    group: "dispatcher",
    service: "dispatcher",
    units: () => UNITS,
    start: async (lease) => void working.add(lease.name),
    stop: async (name) => void working.delete(name),
  });
  return { coordinator, working, cut: link.cut };
}

describe("WorkCoordinator", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("spreads units in fair shares, moves a cut-off process's share after the lease time, and rebalances when one joins", async () => {
    const store = new MemoryLeases();
    const nodes = [node(store, "a"), node(store, "b"), node(store, "c")];
    for (const each of nodes) await each.coordinator.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(nodes.map((each) => each.working.size)).toEqual([2, 2, 2]);

    // Cut one off: it stops its own work before its leases can expire; the others take over.
    nodes[0]!.cut();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(nodes[0]!.working.size).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(nodes.slice(1).map((each) => each.working.size)).toEqual([3, 3]);

    // Every moment, each unit worked on by one process at most.
    const counts = UNITS.map((unit) => nodes.filter((each) => each.working.has(unit)).length);
    expect(counts).toEqual([1, 1, 1, 1, 1, 1]);

    const joined = node(store, "d");
    await joined.coordinator.start();
    await vi.advanceTimersByTimeAsync(6_000);
    expect([nodes[1]!.working.size, nodes[2]!.working.size, joined.working.size]).toEqual([2, 2, 2]);
    // Each epoch has one owner.
    const epochs = new Map<string, string>();
    for (const entry of store.history) {
      expect(epochs.has(`${entry.name}/${entry.epoch}`)).toBe(false);
      epochs.set(`${entry.name}/${entry.epoch}`, entry.owner);
    }

    await joined.coordinator.stop();
    await vi.advanceTimersByTimeAsync(3_000);
    expect([nodes[1]!.working.size, nodes[2]!.working.size]).toEqual([3, 3]);
  });

  it("keeps a group shared twice in one process (two services, one job) once: one lease, started once", async () => {
    const store = new MemoryLeases();
    const coordinator = new WorkCoordinator(store, { id: "a", services: ["certificates", "connector"], host: "h", pid: 1 }, { leaseSeconds: 3 }, logger);
    const starts: string[] = [];
    for (const service of ["certificates", "connector"]) {
      coordinator.share({ group: "registry-outbox", service, units: () => ["registry-outbox"], start: async () => void starts.push(service), stop: async () => undefined });
    }
    await coordinator.start();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(starts).toEqual(["certificates"]);
    expect(coordinator.owned().map((unit) => unit.name)).toEqual(["registry-outbox"]);
    await coordinator.stop();
  });
});
