import { readdirSync, readFileSync } from "node:fs";

/** USER_HZ on Linux. */
const TICKS_PER_SECOND = 100;

export interface CpuSnapshot {
  at: number;
  /** CPU seconds (user + system) used so far, per process, with the group it counts in. */
  processes: Map<number, { group: string; seconds: number }>;
}

/**
 * CPU time by process group, read from /proc: the certflow process, PostgreSQL (all its
 * backends), nats-server, other processes named in `pids`, and this bench process (the client).
 * A diff of two snapshots says where the CPU went during a measured phase; on 2 cores, 2 s of
 * CPU per wall second is all there is. A process that exits in between (a PostgreSQL backend
 * closed by a pool) is not counted; one that starts in between counts in full.
 */
export function cpuSnapshot(pids: Record<string, number | undefined> = {}): CpuSnapshot {
  const processes: CpuSnapshot["processes"] = new Map();
  const named = new Map(Object.entries(pids).flatMap(([name, pid]) => (pid ? [[pid, name] as const] : [])));
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry));
  } catch {
    entries = [];
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const group = named.get(pid) ?? (comm === "postgres" || comm === "nats-server" ? comm : undefined);
    if (!group) continue;
    // After the command come the state ([0]) and more; utime and stime are stat's 14th and 15th fields, [11] and [12] here.
    const fields = stat.slice(close + 2).split(" ");
    processes.set(pid, { group, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND });
  }
  const self = process.cpuUsage();
  processes.set(process.pid, { group: "bench client", seconds: (self.user + self.system) / 1e6 });
  return { at: performance.now(), processes };
}

/** CPU seconds per group between two snapshots, and the share of one core each used. */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Record<string, string> {
  const wall = (after.at - before.at) / 1000;
  const used = new Map<string, number>([["postgres", 0], ["nats-server", 0]]);
  for (const [pid, now] of after.processes) {
    const then = before.processes.get(pid)?.seconds ?? 0;
    used.set(now.group, (used.get(now.group) ?? 0) + now.seconds - then);
  }
  return Object.fromEntries(
    [...used].map(([group, seconds]) => [group, `${seconds.toFixed(2)} s (${((seconds / wall) * 100).toFixed(0)}% of one core)`]),
  );
}
