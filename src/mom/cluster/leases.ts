/**
 * Leases on units of background work (a partition, the projection, a push subscription, a
 * sweep), so each is done by exactly one live process at a time.
 *
 * A lease is only valid together with the write it guards: every owner gets a higher `epoch`,
 * and a guarded write names the epoch it holds (see `leaseFence`), so a stale owner's write is
 * refused even when it has not yet noticed that its lease moved on.
 */
export interface Lease {
  name: string;
  owner: string;
  epoch: number;
}

export interface ProcessIdentity {
  id: string;
  services: readonly string[];
  host: string;
  pid: number;
}

export interface ProcessRecord extends ProcessIdentity {
  startedAt: Date;
  heartbeatAt: Date;
}

export interface LeaseRecord {
  name: string;
  group: string;
  owner: string | null;
  epoch: number;
  acquiredAt: Date | null;
  expiresAt: Date | null;
}

/** Where leases and the registry of live processes are kept. */
export interface WorkLeases {
  /** Records that the process is alive (inserting it the first time). */
  heartbeat(process: ProcessIdentity): Promise<void>;
  /** Removes the process from the registry (a clean stop). */
  leave(processId: string): Promise<void>;
  /** Ids of the processes running `service` that heart-beat within `ttlSeconds`, oldest first. */
  liveProcesses(service: string, ttlSeconds: number): Promise<string[]>;
  /** Makes sure every named lease of the group exists (unowned when new). */
  ensure(group: string, names: readonly string[]): Promise<void>;
  /** Leases of the group nobody holds, or whose holder let them expire. */
  free(group: string): Promise<string[]>;
  /** Takes a free lease with a new epoch; undefined when someone else got it first. */
  acquire(name: string, owner: string, ttlSeconds: number): Promise<Lease | undefined>;
  /** Extends the leases still held by their owner; returns the names still held. */
  renew(owner: string, leases: readonly Lease[], ttlSeconds: number): Promise<Set<string>>;
  release(lease: Lease): Promise<void>;
  processes(): Promise<ProcessRecord[]>;
  leases(): Promise<LeaseRecord[]>;
}

/** A guarded write found that its lease has a newer owner: the work is no longer this process's. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
  constructor(readonly lease: Lease) {
    super(`lease ${lease.name} (epoch ${lease.epoch}) is no longer held by ${lease.owner}; the write was refused`);
  }
}
