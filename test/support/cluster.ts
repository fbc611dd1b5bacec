import { expect } from "vitest";
import type { Kysely } from "kysely";
import type { Database } from "../../src/core/db/schema.js";
import type { Api } from "./api.js";
import { ack, issued, pull, type PulledMessage } from "./fixtures.js";
import { ADMIN_TOKEN } from "./system.js";

/**
 * Posts batches of `certificate.issued` (one per subject, versions rising) every `intervalMs`
 * until stopped. A batch the API does not accept (a NATS node going away) is posted again with
 * the same ids, so `accepted` holds exactly the ids the API accepted, once each.
 */
export function startTraffic(api: Api, producer: string, options: { subjects: number; intervalMs: number; prefix?: string }) {
  const accepted = new Map<string, { subject: string; version: number }>();
  let stopped = false;
  let version = 0;
  let failures = 0;
  const prefix = options.prefix ?? "cert";
  const running = (async () => {
    while (!stopped) {
      version++;
      const notifications = Array.from({ length: options.subjects }, (_, s) =>
        issued(`${prefix}-${s}`, { version, gridArea: s % 2 === 0 ? "DK1" : "DK2" }, { id: crypto.randomUUID() }),
      );
      await postUntilAccepted(api, producer, notifications, accepted, () => failures++);
      await pause(options.intervalMs);
    }
  })();
  return {
    accepted,
    get batches() {
      return version;
    },
    get failures() {
      return failures;
    },
    async stop() {
      stopped = true;
      await running;
      return accepted;
    },
  };
}

async function postUntilAccepted(
  api: Api,
  producer: string,
  notifications: Array<Record<string, any>>,
  accepted: Map<string, { subject: string; version: number }>,
  onFailure: () => void,
): Promise<void> {
  let pending = notifications;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0) await pause(Math.min(1000, 50 * attempt));
    const response = await api.post("/v1/notifications/batch", { notifications: pending }, producer).catch(() => undefined);
    if (!response || response.status !== 202) {
      onFailure();
      continue;
    }
    const retry: typeof pending = [];
    response.body.results.forEach((result: { id?: string; error?: unknown }, index: number) => {
      const notification = pending[index]!;
      if (result.id && !result.error) accepted.set(notification.id, { subject: notification.subject, version: notification.data.version });
      else retry.push(notification);
    });
    // Order per subject: a later version of a subject is only posted once the earlier one is accepted.
    if (retry.length > 0) onFailure();
    pending = retry;
  }
}

/** Pulls and acks a subscription in the background until stopped; every message it saw, in order. */
export function startPuller(api: Api, name: string, token: string) {
  const received: PulledMessage[] = [];
  let stopped = false;
  const running = (async () => {
    while (!stopped) {
      const batch = await pull(api, name, token, "max=500&wait=1").catch(() => [] as PulledMessage[]);
      received.push(...batch);
      await ack(api, name, token, batch).catch(() => undefined);
    }
  })();
  return {
    received,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** Every accepted notification exactly once, and each subject's versions in increasing order. */
export function expectExactlyOnceInOrder(received: Array<{ id: string; subject: string; version: number }>, accepted: Map<string, unknown>) {
  const ids = received.map((message) => message.id);
  expect(new Set(ids).size, "no duplicates").toBe(ids.length);
  expect(ids.filter((id) => !accepted.has(id)), "nothing that was not accepted").toEqual([]);
  expect(ids.length, "everything accepted").toBe(accepted.size);
  const last = new Map<string, number>();
  for (const message of received) {
    expect(message.version, `order of ${message.subject}`).toBeGreaterThan(last.get(message.subject) ?? 0);
    last.set(message.subject, message.version);
  }
}

export const asDelivered = (messages: PulledMessage[]) =>
  messages.map((message) => ({ id: message.notification.id, subject: message.notification.subject, version: message.notification.data.version as number }));

/**
 * The lease history of a group: per lease, one owner per epoch, and each epoch begins only after
 * the one before it ended (released, or expired before it was taken over). Returns the history.
 */
export async function expectOwnershipNeverOverlaps(db: Kysely<Database>, group: string) {
  const rows = await db
    .selectFrom("lease_history as h")
    .innerJoin("work_leases as l", "l.name", "h.name")
    .select(["h.name", "h.epoch", "h.owner", "h.acquired_at", "h.ended_at", "h.end_reason"])
    .where("l.grp", "=", group)
    .orderBy("h.name")
    .orderBy("h.epoch")
    .execute();
  const byName = new Map<string, typeof rows>();
  for (const row of rows) byName.set(row.name, [...(byName.get(row.name) ?? []), row]);
  for (const [name, epochs] of byName) {
    epochs.forEach((epoch, index) => {
      expect(epoch.epoch, `${name}: epochs count up`).toBe(index + 1);
      if (index === epochs.length - 1) return;
      expect(epoch.ended_at, `${name} epoch ${epoch.epoch} ended before the next began`).not.toBeNull();
      expect(epochs[index + 1]!.acquired_at.getTime(), `${name}: epoch ${epoch.epoch + 1} began after ${epoch.epoch} ended`).toBeGreaterThanOrEqual(
        epoch.ended_at!.getTime(),
      );
    });
  }
  return rows;
}

export interface ClusterView {
  processes: Array<{ id: string; live: boolean; services: string[]; owns: Array<{ name: string; group: string; epoch: number; since: string }> }>;
  unowned: Array<{ name: string; group: string }>;
}

export async function clusterView(api: Api): Promise<ClusterView> {
  const response = await api.get("/v1/cluster", ADMIN_TOKEN);
  expect(response.status).toBe(200);
  return response.body;
}

/** Units of a group owned per live process id, for the processes that run `service`. */
export function ownership(view: ClusterView, group: string, service = group): Map<string, string[]> {
  return new Map(
    view.processes
      .filter((process) => process.live && process.services.includes(service))
      .map((process) => [process.id, process.owns.filter((unit) => unit.group === group).map((unit) => unit.name).sort()]),
  );
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls `sample` every `intervalMs`, `count` times, and returns what it returned, in order. */
export async function sampleEvery<T>(intervalMs: number, count: number, sample: () => Promise<T>): Promise<T[]> {
  const samples: T[] = [];
  for (let index = 0; index < count; index++) {
    await pause(intervalMs);
    samples.push(await sample());
  }
  return samples;
}
