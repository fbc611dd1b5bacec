import { sql } from "kysely";
import type { CommandState, Executor } from "../../core/db/schema.js";
import type { Logger } from "../../core/logger.js";
import type { Notification } from "../../core/notifications/envelope.js";
import { applyCommitted } from "../book/apply-command.js";
import { enqueueNotifications, type OutboxRelay } from "../book/outbox.js";
import type { CommandLog, CommandRecord } from "./command-log.js";
import { commandEventId, commandEvent, type CommandStep } from "./events.js";
import type { RegistryMetrics } from "./metrics.js";

/** Runs in the transaction that finished a command: the saga of a trade moves on from here. */
export type FinishedHook = (trx: Executor, command: CommandRecord, outcome: "committed" | "failed") => Promise<void>;

export type Resolution = { outcome: "committed" | "failed"; evidence: string; by: string };

/**
 * What happens when the registry's answer for a command is known. `committed`: the command, the
 * book change, `registry.transaction.committed` and the certificate notifications commit in one
 * local transaction; `failed`: the command fails, the book stays as it is; `indeterminate`: nothing
 * changes and the certificate stays locked until the truth is known.
 */
export class CommandOutcomes {
  private readonly hooks: FinishedHook[] = [];

  constructor(
    private readonly db: Executor,
    private readonly log: CommandLog,
    private readonly relay: OutboxRelay,
    private readonly metrics: RegistryMetrics,
    private readonly logger: Logger,
    private readonly sourceVersion: string,
  ) {}

  onFinished(hook: FinishedHook): void {
    this.hooks.push(hook);
  }

  /** Applies commits, many in one transaction; each command once, whoever gets there first. */
  async committed(results: ReadonlyArray<{ command: CommandRecord; status: string }>, from: readonly CommandState[] = ["sent", "indeterminate"]): Promise<number> {
    if (results.length === 0) return 0;
    const byStatus = new Map<string, string[]>();
    for (const { command, status } of results) byStatus.set(status, [...(byStatus.get(status) ?? []), command.id]);
    const applied = await this.db.transaction().execute(async (trx) => {
      await lockCertificates(trx, results.map(({ command }) => command.certificateId));
      const now = new Date();
      const done: CommandRecord[] = [];
      for (const [status, ids] of byStatus) {
        const moved = await this.log.transitionMany(trx, ids, from, "committed", status);
        const committedEvents = moved.map((before) =>
          this.event(before, "committed", previousStep(before), now, { status, latencyMs: now.getTime() - before.acceptedAt.getTime() }),
        );
        const changes = await applyCommitted(trx, moved, committedEvents.map((event) => event.id), now, this.sourceVersion);
        await enqueueNotifications(trx, [...committedEvents, ...changes]);
        for (const before of moved) for (const hook of this.hooks) await hook(trx, { ...before, state: "committed" }, "committed");
        done.push(...moved);
      }
      return done;
    });
    for (const command of applied) this.metrics.commitSeconds.observe((Date.now() - command.acceptedAt.getTime()) / 1000);
    if (applied.length > 0) {
      this.logger.info({ commands: applied.length, first: applied[0]!.id }, "registry committed the commands; book updated");
      // Published in the background: the next statuses need not wait for the broker.
      void this.relay.flushQuietly();
    }
    return applied.length;
  }

  /** The registry failed the command (a business failure): no book change, the lock is released. */
  async failed(command: CommandRecord, message: string, from: readonly CommandState[] = ["sent", "sending", "indeterminate"], status = "failed"): Promise<boolean> {
    const done = await this.db.transaction().execute(async (trx) => {
      await lockCertificates(trx, [command.certificateId]);
      const now = new Date();
      const before = await this.log.transition(trx, command.id, from, "failed", { status, at: now.toISOString() }, message);
      if (!before) return false;
      await enqueueNotifications(trx, [this.event(before, "failed", previousStep(before), now, { message })]);
      for (const hook of this.hooks) await hook(trx, { ...before, state: "failed", error: message }, "failed");
      return true;
    });
    if (done) {
      this.logger.warn({ commandId: command.id, certificateId: command.certificateId, type: command.type, reason: message }, "registry failed the command");
      await this.relay.flushQuietly();
    }
    return done;
  }

  /** The truth cannot be known for now: parked with its lock held, visible in metrics and lists. */
  async indeterminate(command: CommandRecord, reason: string, lastStatus: string): Promise<boolean> {
    const done = await this.db.transaction().execute(async (trx) => {
      const now = new Date();
      const before = await this.log.transition(trx, command.id, ["sent"], "indeterminate", { status: lastStatus, at: now.toISOString() }, reason);
      if (!before) return false;
      await enqueueNotifications(trx, [this.event(before, "indeterminate", "sent", now, { lastStatus, reason, since: before.sentAt?.toISOString() ?? null })]);
      return true;
    });
    if (done) {
      this.logger.warn({ commandId: command.id, certificateId: command.certificateId, reason }, "command indeterminate: lock kept until the registry's answer is known");
      await this.relay.flushQuietly();
    }
    return done;
  }

  /** An operator (or reconciliation) settles an indeterminate command with evidence; journaled as `registry.command.resolved`. */
  async resolve(command: CommandRecord, resolution: Resolution): Promise<boolean> {
    const now = new Date();
    const resolved = this.event(command, "resolved", "indeterminate", now, { resolution: resolution.outcome, evidence: resolution.evidence, by: resolution.by });
    await this.db.transaction().execute((trx) => enqueueNotifications(trx, [resolved]));
    this.logger.info({ commandId: command.id, outcome: resolution.outcome, evidence: resolution.evidence, by: resolution.by }, "indeterminate command resolved");
    if (resolution.outcome === "committed") return (await this.committed([{ command, status: `resolved: ${resolution.evidence}` }], ["indeterminate"])) === 1;
    return this.failed(command, `resolved as failed: ${resolution.evidence}`, ["indeterminate"], `resolved: ${resolution.evidence}`);
  }

  private event(command: CommandRecord, step: CommandStep, parentStep: CommandStep, time: Date, data: Record<string, unknown>): Notification {
    return commandEvent({ command, step, parentId: commandEventId(command.id, parentStep), time, sourceVersion: this.sourceVersion, data });
  }
}

/**
 * The per-certificate locks that accepting a command takes, in the same (id) order: a command
 * accepted meanwhile sees the book and the unfinished commands from before or after this change,
 * never half of it, so its expected version is right.
 */
async function lockCertificates(trx: Executor, certificateIds: readonly string[]): Promise<void> {
  const ids = [...new Set(certificateIds)].sort();
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/certificate/' || id, 0)) FROM unnest(${ids}::text[]) AS id ORDER BY id COLLATE "C"`.execute(trx);
}

/** The event a command's outcome follows: resolved after indeterminate, else sent (accepted if it never got that far). */
function previousStep(command: CommandRecord): CommandStep {
  if (command.state === "indeterminate") return "resolved";
  if (command.state === "sent") return "sent";
  return "accepted";
}
