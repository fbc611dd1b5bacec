import type { Logger } from "../../core/logger.js";
import type { Lease, ProcessIdentity, WorkLeases } from "./leases.js";

/** A kind of background work whose units are spread over the live processes running `service`. */
export interface WorkGroup {
  group: string;
  service: string;
  /** The units' lease names right now (fixed, like partitions, or changing, like push subscriptions). */
  units(): Promise<readonly string[]> | readonly string[];
  /** Begins the unit's work under the lease; every guarded write names it. */
  start(lease: Lease): Promise<void>;
  /** Ends the unit's work; resolves once nothing of it is running (its lease is released after). */
  stop(name: string): Promise<void>;
}

export interface OwnedUnit {
  name: string;
  group: string;
  epoch: number;
  since: Date;
}

export interface CoordinatorOptions {
  /** How long a lease lasts without renewal; a dead process's units move after about this. */
  leaseSeconds: number;
}

interface Held {
  lease: Lease;
  group: WorkGroup;
  since: Date;
}

/**
 * Spreads every work group's units over the processes that run its service: each process holds
 * its fair share, ceil(units / live processes), renews it on every tick (a third of the lease
 * time), hands back what exceeds its share when a process joins, and takes up free or expired
 * units when one leaves. A unit moves only through its lease, so two processes never work on
 * one; a process that cannot renew in time stops its work on its own.
 */
export class WorkCoordinator {
  private readonly groups: WorkGroup[] = [];
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private lastRenewed = Date.now();
  private readonly knownUnits = new Map<string, string>();

  constructor(
    private readonly store: WorkLeases,
    private readonly identity: ProcessIdentity,
    private readonly options: CoordinatorOptions,
    private readonly logger: Logger,
  ) {}

  get processId(): string {
    return this.identity.id;
  }

  /** Adds a group; a second group of the same name (two services sharing one job) is the same work, kept once. */
  share(group: WorkGroup): void {
    if (this.groups.some((known) => known.group === group.group)) return;
    this.groups.push(group);
    if (this.timer) this.kick();
  }

  owned(): OwnedUnit[] {
    return [...this.held.values()].map((held) => ({ name: held.lease.name, group: held.group.group, epoch: held.lease.epoch, since: held.since }));
  }

  async start(): Promise<void> {
    await this.store.heartbeat(this.identity);
    this.schedule(0);
  }

  /** Runs a tick now (a unit set changed), without waiting for the timer. */
  kick(): void {
    if (this.stopped || this.ticking) return;
    clearTimeout(this.timer);
    this.schedule(0);
  }

  /** Stops every unit's work, hands the leases back and leaves the registry, so others take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    await Promise.all([...this.held.keys()].map((name) => this.handBack(name)));
    await this.store.leave(this.identity.id).catch((error: unknown) => this.logger.warn({ err: error }, "could not leave the process registry"));
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      // A timer set just as the coordinator stopped must not tick against a closed database.
      if (this.stopped) return;
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        if (!this.stopped) this.schedule(this.tickMs());
      });
    }, ms);
    this.timer.unref();
  }

  private tickMs(): number {
    return Math.max(100, (this.options.leaseSeconds * 1000) / 3);
  }

  private async tick(): Promise<void> {
    try {
      await this.store.heartbeat(this.identity);
      await this.renew();
      for (const group of this.groups) {
        if (this.stopped) return;
        await this.balance(group);
      }
    } catch (error) {
      this.logger.warn({ err: error }, "lease tick failed; will try again");
      // Past the lease time nobody can count on this process's leases: stop before another takes them.
      if (Date.now() - this.lastRenewed > this.options.leaseSeconds * 900) await this.stopAll("leases could not be renewed in time");
    }
  }

  private async renew(): Promise<void> {
    const leases = [...this.held.values()].map((held) => held.lease);
    const kept = await this.store.renew(this.identity.id, leases, this.options.leaseSeconds);
    this.lastRenewed = Date.now();
    for (const lease of leases) {
      if (kept.has(lease.name)) continue;
      this.logger.warn({ lease: lease.name, epoch: lease.epoch }, "lease lost; stopping its work");
      await this.stopWork(lease.name);
    }
  }

  private async balance(group: WorkGroup): Promise<void> {
    const units = [...(await group.units())].sort();
    const signature = units.join("\n");
    if (this.knownUnits.get(group.group) !== signature) {
      await this.store.ensure(group.group, units);
      this.knownUnits.set(group.group, signature);
    }
    const wanted = new Set(units);
    const mine = () => [...this.held.values()].filter((held) => held.group === group);
    for (const held of mine()) if (!wanted.has(held.lease.name)) await this.handBack(held.lease.name);

    const processes = await this.store.liveProcesses(group.service, this.options.leaseSeconds);
    const count = Math.max(1, processes.length);
    const fairShare = Math.ceil(units.length / count);
    const surplus = mine().length - fairShare;
    if (surplus > 0) {
      // The newest first: the oldest units keep their owner, so fewer move.
      const extra = mine().sort((a, b) => b.since.getTime() - a.since.getTime()).slice(0, surplus);
      for (const held of extra) await this.handBack(held.lease.name);
      return;
    }
    let room = fairShare - mine().length;
    if (room <= 0) return;
    const free = await this.store.free(group.group);
    // Each process starts looking at its own offset, so processes starting together rarely race for one unit.
    const offset = Math.max(0, processes.indexOf(this.identity.id)) * fairShare;
    const order = free.length === 0 ? [] : [...free.slice(offset % free.length), ...free.slice(0, offset % free.length)];
    for (const name of order) {
      if (room <= 0 || this.stopped) break;
      if (!wanted.has(name) || this.held.has(name)) continue;
      const lease = await this.store.acquire(name, this.identity.id, this.options.leaseSeconds);
      if (!lease) continue;
      this.held.set(name, { lease, group, since: new Date() });
      room--;
      try {
        await group.start(lease);
        this.logger.info({ lease: name, epoch: lease.epoch }, "lease acquired; work started");
      } catch (error) {
        this.logger.warn({ err: error, lease: name }, "could not start work under a lease; handing it back");
        await this.handBack(name);
      }
    }
  }

  /** Stops the unit's work, then releases its lease, so the next owner starts where this one stopped. */
  private async handBack(name: string): Promise<void> {
    const held = this.held.get(name);
    if (!held) return;
    await this.stopWork(name);
    await this.store.release(held.lease).catch((error: unknown) => this.logger.warn({ err: error, lease: name }, "could not release a lease; it expires"));
    this.logger.info({ lease: name, epoch: held.lease.epoch }, "lease released");
  }

  private async stopWork(name: string): Promise<void> {
    const held = this.held.get(name);
    if (!held) return;
    this.held.delete(name);
    await held.group.stop(name).catch((error: unknown) => this.logger.error({ err: error, lease: name }, "stopping leased work failed"));
  }

  private async stopAll(reason: string): Promise<void> {
    this.logger.error({ reason, leases: this.held.size }, "stopping all leased work");
    await Promise.all([...this.held.keys()].map((name) => this.stopWork(name)));
  }
}

export interface PeriodicJob {
  /** The lease name, also the group: one process runs the job at a time. */
  name: string;
  service: string;
  intervalMs: number;
  /** One pass; `signal` aborts between its small steps when the lease moves on. */
  run(lease: Lease, signal: AbortSignal): Promise<void>;
}

/** A background job that runs on a timer in exactly one live process (sweeps, retention). */
export function sharePeriodic(work: WorkCoordinator, job: PeriodicJob, logger: Logger): void {
  let timer: NodeJS.Timeout | undefined;
  let controller: AbortController | undefined;
  let pass: Promise<void> | undefined;
  const runPass = (lease: Lease, signal: AbortSignal) => {
    if (pass || signal.aborted) return;
    pass = job
      .run(lease, signal)
      .catch((error: unknown) => {
        if (!signal.aborted) logger.warn({ err: error, job: job.name }, "background job failed; will try again");
      })
      .finally(() => (pass = undefined));
  };
  work.share({
    group: job.name,
    service: job.service,
    units: () => [job.name],
    async start(lease) {
      const current = new AbortController();
      controller = current;
      // The first pass after one interval, as a timer would: a lease taken at start-up does no work at once.
      timer = setInterval(() => runPass(lease, current.signal), job.intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      controller?.abort();
      await pass;
    },
  });
}
