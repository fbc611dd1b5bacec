import { randomBytes } from "node:crypto";
import { sql, type Selectable } from "kysely";
import type { CommandState, CommandType, Executor, RegistryCommandsTable } from "../../core/db/schema.js";
import { encodeTransaction, type TransactionHeader } from "../../core/registry/wire.js";
import { enqueueNotifications, outboxInsert } from "../book/outbox.js";
import { selectCertificates, toRecord, type CertificateRecord } from "../book/registry-store.js";
import { commandEvent } from "./events.js";

export const TERMINAL_STATES: readonly CommandState[] = ["committed", "failed"];
export const IN_FLIGHT_STATES: readonly CommandState[] = ["sending", "sent", "indeterminate"];
export const COMMAND_STATES: readonly CommandState[] = ["queued", "sending", "sent", "committed", "failed", "indeterminate"];

export interface CommandRecord {
  seq: number;
  id: string;
  certificateId: string;
  type: CommandType;
  state: CommandState;
  bytes: string;
  txId: string;
  intent: Record<string, unknown>;
  statuses: Array<{ status: string; at: string }>;
  error: string | null;
  sendAttempts: number;
  sendOutcome: string | null;
  polls: number;
  pendingSeen: boolean;
  parentId: string | null;
  correlationId: string;
  sagaId: string | null;
  sagaRole: "forward" | "compensation" | null;
  requestedBy: string;
  acceptedAt: Date;
  sentAt: Date | null;
  nextAttemptAt: Date;
  deadlineAt: Date | null;
  finishedAt: Date | null;
}

export const toCommand = (row: Selectable<RegistryCommandsTable>): CommandRecord => ({
  seq: Number(row.seq),
  id: row.id,
  certificateId: row.certificate_id,
  type: row.type,
  state: row.state,
  bytes: row.bytes,
  txId: row.tx_id,
  intent: row.intent,
  statuses: row.statuses,
  error: row.error,
  sendAttempts: row.send_attempts,
  sendOutcome: row.send_outcome,
  polls: row.polls,
  pendingSeen: row.pending_seen,
  parentId: row.parent_id,
  correlationId: row.correlation_id,
  sagaId: row.saga_id,
  sagaRole: row.saga_role,
  requestedBy: row.requested_by,
  acceptedAt: row.accepted_at,
  sentAt: row.sent_at,
  nextAttemptAt: row.next_attempt_at,
  deadlineAt: row.deadline_at,
  finishedAt: row.finished_at,
});

/** A command as decided under the certificate's lock: the wire transaction and what the book will do on commit. */
export interface CommandPlan {
  id: string;
  type: CommandType;
  certificateId: string;
  payload: Record<string, unknown>;
  /** Absent for an issue (there is no version yet). */
  expectedVersion?: number | undefined;
  intent: Record<string, unknown>;
  parentId: string | null;
  correlationId: string;
  sagaId?: string | null;
  sagaRole?: "forward" | "compensation" | null;
  requestedBy: string;
}

/** What `decide` sees: the certificate in the book (if any) and the unfinished commands already on it, oldest first. */
export interface CommandContext {
  certificate: CertificateRecord | undefined;
  pending: CommandRecord[];
}

export interface CommandFilter {
  certificateId?: string | undefined;
  state?: CommandState | undefined;
  sagaId?: string | undefined;
  parentId?: string | undefined;
}

/**
 * The command log: the one writer of `registry_commands`. A command is accepted in one
 * transaction with its bytes, transaction id and `registry.command.accepted` event; the bytes
 * are never rebuilt afterwards.
 */
export class CommandLog {
  constructor(
    private readonly db: Executor,
    private readonly sourceVersion: string,
  ) {}

  /**
   * Accepts commands, each decided under an advisory lock of its certificate (taken in id order,
   * so concurrent accepts of overlapping sets cannot deadlock). `extra` runs in the same
   * transaction (e.g. a trade row).
   */
  async accept(
    certificateIds: readonly string[],
    decide: (contexts: Map<string, CommandContext>, trx: Executor) => Promise<CommandPlan[]> | CommandPlan[],
    executor?: Executor,
  ): Promise<CommandRecord[]> {
    const run = async (trx: Executor) => {
      const ids = [...new Set(certificateIds)].sort();
      for (const id of ids) await sql`SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/certificate/' || ${id}, 0))`.execute(trx);
      const contexts = new Map<string, CommandContext>();
      const rows = ids.length === 0 ? [] : await selectCertificates(trx).where("c.certificate_id", "in", ids).execute();
      const pending = ids.length === 0 ? [] : await trx
        .selectFrom("registry_commands")
        .selectAll()
        .where("certificate_id", "in", ids)
        .where("state", "not in", TERMINAL_STATES)
        .orderBy("seq")
        .execute();
      for (const id of ids) contexts.set(id, { certificate: undefined, pending: [] });
      for (const row of rows) contexts.get(row.certificate_id)!.certificate = toRecord(row);
      for (const row of pending) contexts.get(row.certificate_id)!.pending.push(toCommand(row));
      const plans = await decide(contexts, trx);
      return this.insert(trx, plans);
    };
    return executor ? run(executor) : this.db.transaction().execute(run);
  }

  /** Writes planned commands and their accepted events; used inside a caller's transaction. */
  async insert(trx: Executor, plans: readonly CommandPlan[]): Promise<CommandRecord[]> {
    if (plans.length === 0) return [];
    const now = new Date();
    const values = plans.map((plan) => {
      const header: TransactionHeader = {
        certificateId: plan.certificateId,
        type: plan.type,
        commandId: plan.id,
        nonce: randomBytes(12).toString("base64url"),
        ...(plan.expectedVersion === undefined ? {} : { expectedVersion: plan.expectedVersion }),
      };
      const { bytes, txId } = encodeTransaction({ header, payload: plan.payload });
      return {
        id: plan.id,
        certificate_id: plan.certificateId,
        type: plan.type,
        state: "queued" as const,
        bytes,
        tx_id: txId,
        intent: JSON.stringify(plan.intent),
        statuses: "[]",
        parent_id: plan.parentId,
        correlation_id: plan.correlationId,
        saga_id: plan.sagaId ?? null,
        saga_role: plan.sagaRole ?? null,
        requested_by: plan.requestedBy,
        accepted_at: now,
        next_attempt_at: now,
      };
    });
    // Each chunk's commands and their accepted events go in one statement: an acceptance is a
    // handful of round trips, and this is one fewer.
    const inserted: CommandRecord[] = [];
    for (let offset = 0; offset < values.length; offset += 1000) {
      const chunk = values.slice(offset, offset + 1000);
      const events = chunk.map((row) =>
        commandEvent({
          command: { id: row.id, certificateId: row.certificate_id, type: row.type, txId: row.tx_id, parentId: row.parent_id, correlationId: row.correlation_id },
          step: "accepted",
          parentId: row.parent_id,
          time: now,
          sourceVersion: this.sourceVersion,
          data: { intent: JSON.parse(row.intent) as unknown },
        }),
      );
      const rows = await trx
        .with("accepted_events", (creator) => outboxInsert(creator, events))
        .insertInto("registry_commands")
        .values(chunk)
        .returningAll()
        .execute();
      inserted.push(...rows.map(toCommand));
    }
    return inserted;
  }

  async find(id: string, executor: Executor = this.db): Promise<CommandRecord | undefined> {
    const row = await executor.selectFrom("registry_commands").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toCommand(row);
  }

  async list(filter: CommandFilter, limit: number, afterSeq = 0): Promise<CommandRecord[]> {
    let query = this.db.selectFrom("registry_commands").selectAll().where("seq", ">", afterSeq).orderBy("seq").limit(limit);
    if (filter.certificateId) query = query.where("certificate_id", "=", filter.certificateId);
    if (filter.state) query = query.where("state", "=", filter.state);
    if (filter.sagaId) query = query.where("saga_id", "=", filter.sagaId);
    if (filter.parentId) query = query.where("parent_id", "=", filter.parentId);
    return (await query.execute()).map(toCommand);
  }

  async countByState(): Promise<Record<CommandState, number>> {
    const rows = await this.db.selectFrom("registry_commands").select(["state", (eb) => eb.fn.countAll<number>().as("count")]).groupBy("state").execute();
    const counts = Object.fromEntries(COMMAND_STATES.map((state) => [state, 0])) as Record<CommandState, number>;
    for (const row of rows) counts[row.state] = Number(row.count);
    return counts;
  }

  /**
   * Claims the oldest queued command of each certificate that has none in flight, moving it to
   * `sending` (committed before anything is sent). The partial unique index makes a second
   * claimer's update fail rather than put two in flight.
   */
  async claimQueued(limit: number): Promise<CommandRecord[]> {
    const result = await sql<Selectable<RegistryCommandsTable>>`
      WITH picked AS (
        SELECT c.id FROM registry_commands c
        WHERE c.state = 'queued' AND c.next_attempt_at <= now()
          AND NOT EXISTS (SELECT 1 FROM registry_commands o WHERE o.certificate_id = c.certificate_id AND o.state IN ('sending', 'sent', 'indeterminate'))
          AND NOT EXISTS (SELECT 1 FROM registry_commands e WHERE e.certificate_id = c.certificate_id AND e.state = 'queued' AND e.seq < c.seq)
        ORDER BY c.seq
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE registry_commands SET state = 'sending', send_attempts = send_attempts + 1
      WHERE id IN (SELECT id FROM picked)
      RETURNING *`.execute(this.db);
    return result.rows.map(toCommand).sort((a, b) => a.seq - b.seq);
  }

  /** Received or ambiguous: from now on only the status is asked for. Enqueues `registry.command.sent`. */
  async markSent(commands: readonly CommandRecord[], outcome: string, received: boolean, firstPollMs: number, deadlineSeconds: number): Promise<void> {
    if (commands.length === 0) return;
    const now = new Date();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("registry_commands")
        .set({
          state: "sent",
          send_outcome: outcome,
          sent_at: now,
          next_attempt_at: new Date(now.getTime() + firstPollMs),
          deadline_at: new Date(now.getTime() + deadlineSeconds * 1000),
        })
        .where("id", "in", commands.map((command) => command.id))
        .where("state", "=", "sending")
        .execute();
      await enqueueNotifications(
        trx,
        commands.map((command) =>
          commandEvent({
            command,
            step: "sent",
            parentId: command.id,
            time: now,
            sourceVersion: this.sourceVersion,
            data: { attempt: command.sendAttempts, sentAt: now.toISOString(), outcome: received ? "received" : "ambiguous", detail: outcome },
          }),
        ),
      );
    });
  }

  /** Provably not received: back to the queue with the same bytes, to be sent again after `retryMs`. */
  async requeue(commands: readonly CommandRecord[], reason: string, retryMs: number): Promise<void> {
    if (commands.length === 0) return;
    await this.db
      .updateTable("registry_commands")
      .set({ state: "queued", send_outcome: `not received: ${reason}`, next_attempt_at: new Date(Date.now() + retryMs) })
      .where("id", "in", commands.map((command) => command.id))
      .where("state", "=", "sending")
      .execute();
  }

  /** Sent commands whose next status check is due, soonest first. */
  async dueForPoll(limit: number): Promise<CommandRecord[]> {
    const rows = await this.db
      .selectFrom("registry_commands")
      .selectAll()
      .where("state", "=", "sent")
      .where("next_attempt_at", "<=", new Date())
      .orderBy("next_attempt_at")
      .limit(limit)
      .execute();
    return rows.map(toCommand);
  }

  async nextDueAt(): Promise<Date | undefined> {
    const row = await this.db
      .selectFrom("registry_commands")
      .select((eb) => eb.fn.min("next_attempt_at").as("at"))
      .where("state", "in", ["sent", "queued"])
      .executeTakeFirst();
    return row?.at ? new Date(row.at as Date) : undefined;
  }

  /**
   * Still pending (or unknown within grace): records each status that is new and when to ask
   * next, for a whole poll round in one statement.
   */
  async recordPolls(polls: ReadonlyArray<{ command: CommandRecord; status: string | undefined; nextInMs: number }>): Promise<void> {
    if (polls.length === 0) return;
    const now = Date.now();
    const at = new Date(now).toISOString();
    await sql`
      UPDATE registry_commands c SET
        polls = c.polls + 1,
        pending_seen = c.pending_seen OR u.status = 'pending',
        statuses = CASE WHEN u.status IS NULL OR c.statuses->-1->>'status' = u.status THEN c.statuses
                   ELSE c.statuses || jsonb_build_array(jsonb_build_object('status', u.status, 'at', ${at}::text)) END,
        next_attempt_at = u.next_attempt_at
      FROM unnest(
        ${polls.map(({ command }) => command.id)}::uuid[],
        ${polls.map(({ status }) => status ?? null)}::text[],
        ${polls.map(({ nextInMs }) => new Date(now + nextInMs))}::timestamptz[]
      ) AS u(id, status, next_attempt_at)
      WHERE c.id = u.id AND c.state = 'sent'`.execute(this.db);
  }

  /**
   * Moves a command to its terminal (or indeterminate) state in the caller's transaction, if it
   * is still in `from`; returns the row as it was, or undefined when someone else got there first.
   */
  async transition(
    trx: Executor,
    id: string,
    from: readonly CommandState[],
    to: CommandState,
    status: { status: string; at: string } | undefined,
    error: string | null,
  ): Promise<CommandRecord | undefined> {
    const row = await trx
      .selectFrom("registry_commands")
      .selectAll()
      .where("id", "=", id)
      .where("state", "in", from)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return undefined;
    const command = toCommand(row);
    const last = command.statuses[command.statuses.length - 1]?.status;
    const statuses = status && status.status !== last ? [...command.statuses, status] : command.statuses;
    await trx
      .updateTable("registry_commands")
      .set({
        state: to,
        statuses: JSON.stringify(statuses),
        error,
        finished_at: TERMINAL_STATES.includes(to) ? new Date() : null,
      })
      .where("id", "=", id)
      .execute();
    return command;
  }

  /**
   * The bulk form of `transition`, one statement for many commands with the same status; returns
   * the rows moved, as they were before.
   */
  async transitionMany(trx: Executor, ids: readonly string[], from: readonly CommandState[], to: CommandState, status: string): Promise<CommandRecord[]> {
    if (ids.length === 0) return [];
    const entry = JSON.stringify({ status, at: new Date().toISOString() });
    const result = await sql<Selectable<RegistryCommandsTable>>`
      WITH moved AS (
        SELECT id, state AS old_state FROM registry_commands
        WHERE id = ANY(${ids}::uuid[]) AND state = ANY(${from}::text[])
        FOR UPDATE
      )
      UPDATE registry_commands c SET
        state = ${to},
        statuses = CASE WHEN c.statuses->-1->>'status' = ${status} THEN c.statuses ELSE c.statuses || jsonb_build_array(${entry}::jsonb) END,
        finished_at = ${TERMINAL_STATES.includes(to) ? new Date() : null}
      FROM moved
      WHERE c.id = moved.id
      RETURNING c.*, moved.old_state`.execute(trx);
    return result.rows.map((row) => ({ ...toCommand(row), state: (row as unknown as { old_state: CommandState }).old_state }));
  }

  /** Unfinished commands (sent or indeterminate), for reconciliation. */
  async unfinished(limit: number): Promise<CommandRecord[]> {
    const rows = await this.db
      .selectFrom("registry_commands")
      .selectAll()
      .where("state", "in", ["sent", "indeterminate"])
      .orderBy("seq")
      .limit(limit)
      .execute();
    return rows.map(toCommand);
  }

  async bySaga(sagaId: string, executor: Executor = this.db): Promise<CommandRecord[]> {
    const rows = await executor.selectFrom("registry_commands").selectAll().where("saga_id", "=", sagaId).orderBy("seq").execute();
    return rows.map(toCommand);
  }

  /** Commands past their first accepted moment that a certificate has in the log (for reconciliation). */
  async committedTxIds(certificateId: string): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom("registry_commands")
      .select("tx_id")
      .where("certificate_id", "=", certificateId)
      .where("state", "=", "committed")
      .execute();
    return new Set(rows.map((row) => row.tx_id));
  }
}

