import type { Logger } from "../../core/logger.js";
import type { TransactionStatus } from "../../core/registry/wire.js";
import type { CommandLog, CommandRecord } from "../commands/command-log.js";
import type { RegistryMetrics } from "../commands/metrics.js";
import type { CommandOutcomes } from "../commands/outcomes.js";
import { RegistryUnreachable, type CertificateRegistry, type SubmitOutcome } from "../../core/registry/port.js";

export interface ConnectorOptions {
  /** Transactions per POST (the wire allows 1,000). */
  batch: number;
  /** Status queries in flight at once. */
  concurrency: number;
  pollMs: number;
  pollMaxMs: number;
  retryMs: number;
  deadlineSeconds: number;
  unknownGraceMs: number;
}

/** The connector's view of one status answer. */
type Verdict =
  | { kind: "committed"; status: string }
  | { kind: "failed"; message: string }
  | { kind: "wait"; status: string | undefined }
  | { kind: "indeterminate"; reason: string; status: string };

const IDLE_MS = 250;
/**
 * How long a hint (a command accepted) waits for more before the connector runs: commands
 * accepted one request at a time then go to the registry a few per POST instead of one each,
 * for a wait that is nothing beside the registry's seconds.
 */
const GATHER_MS = 20;
/** Commits applied to the book per transaction, and such transactions at once, while a poll round goes on. */
const COMMIT_CHUNK = 128;
const COMMITS_IN_FLIGHT = 4;

/**
 * Carries accepted commands to the registry: sends each once, asks for its status by
 * transaction id afterwards, and hands the answer to the outcomes. It resends only what the
 * registry provably did not receive (same bytes); after an ambiguous send it only asks. A
 * registry outage never fails a command: sends wait and retry, statuses are asked again.
 */
export class Connector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopping = false;
  private gatherTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly log: CommandLog,
    private readonly registry: CertificateRegistry,
    private readonly outcomes: CommandOutcomes,
    private readonly metrics: RegistryMetrics,
    private readonly logger: Logger,
    private readonly options: ConnectorOptions,
  ) {}

  async start(onHint: (handler: () => void) => () => void): Promise<void> {
    let recovered = 0;
    for (let batch = await this.log.list({ state: "sending" }, 1000); batch.length > 0; batch = await this.log.list({ state: "sending" }, 1000)) {
      await this.log.markSent(batch, "ambiguous: the connector stopped while sending", false, 0, this.options.deadlineSeconds);
      recovered += batch.length;
    }
    if (recovered > 0) this.logger.warn({ recovered }, "commands found in `sending` after a restart are treated as sent (ambiguous): only their status is asked");
    this.metrics.reachable.set(1);
    this.unsubscribe = onHint(() => this.wakeSoon());
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    clearTimeout(this.gatherTimer);
    await this.running?.catch(() => undefined);
  }

  /** Runs a pass within GATHER_MS (or right after the current one). */
  private wakeSoon(): void {
    if (this.stopping || this.gatherTimer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.gatherTimer = setTimeout(() => {
      this.gatherTimer = undefined;
      this.wake();
    }, GATHER_MS);
    this.gatherTimer.unref();
  }

  /** Runs a pass now (or right after the current one). */
  wake(): void {
    if (this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.pass()
      .catch((error: unknown) => this.logger.warn({ err: error }, "connector pass failed; it runs again shortly"))
      .finally(() => {
        this.running = undefined;
        if (this.stopping) return;
        if (this.again) {
          this.again = false;
          this.wake();
        } else void this.schedule();
      });
  }

  private async schedule(): Promise<void> {
    const due = await this.log.nextDueAt().catch(() => undefined);
    if (this.stopping || this.running) return;
    const wait = due ? Math.max(0, Math.min(IDLE_MS, due.getTime() - Date.now())) : IDLE_MS;
    this.timer = setTimeout(() => this.wake(), wait);
    this.timer.unref();
  }

  /** Sends what is queued and asks about what is due, overlapping both until nothing is due now. */
  private async pass(): Promise<void> {
    for (let round = 0; round < 100 && !this.stopping; round++) {
      const [sent, polled] = await Promise.all([this.sendQueued(), this.pollDue()]);
      if (sent === 0 && polled === 0) return;
    }
  }

  private async sendQueued(): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.stopping) return total;
      const commands = await this.log.claimQueued(this.options.batch);
      if (commands.length === 0) return total;
      total += commands.length;
      const outcome = await this.registry.submit(commands);
      await this.record(commands, outcome);
      if (outcome.kind === "not_received") return total;
    }
  }

  private async record(commands: CommandRecord[], outcome: SubmitOutcome): Promise<void> {
    this.metrics.sends.inc({ outcome: outcome.kind }, commands.length);
    const log = { commands: commands.length, first: commands[0]!.id };
    switch (outcome.kind) {
      case "received":
        this.metrics.reachable.set(1);
        await this.log.markSent(commands, "received", true, this.options.pollMs, this.options.deadlineSeconds);
        return;
      case "ambiguous":
        this.logger.warn({ ...log, reason: outcome.reason }, "send outcome ambiguous: the registry may have the commands; asking their status, never resending");
        await this.log.markSent(commands, `ambiguous: ${outcome.reason}`, false, this.options.pollMs, this.options.deadlineSeconds);
        return;
      case "not_received":
        this.metrics.reachable.set(0);
        this.logger.warn({ ...log, reason: outcome.reason, retryInMs: this.options.retryMs }, "registry did not receive the commands; the same bytes go again");
        await this.log.requeue(commands, outcome.reason, this.options.retryMs);
        return;
      case "rejected":
        this.metrics.reachable.set(1);
        for (const command of commands) await this.outcomes.failed(command, `the registry refused the request: ${outcome.reason}`, ["sending"]);
        return;
    }
  }

  /**
   * Asks the status of every command due, `concurrency` at a time. Commits go to the book in
   * chunks while the asking goes on (several chunks at once, each its own transaction; a trade's
   * commands all in one at the end, so two never wait for each other's trade), and the commands
   * still waiting get their next poll time in one statement at the end.
   */
  private async pollDue(): Promise<number> {
    const due = await this.log.dueForPoll(this.options.concurrency * 16);
    if (due.length === 0) return 0;
    const commits = new ChunkedWork<{ command: CommandRecord; status: string }>(COMMIT_CHUNK, COMMITS_IN_FLIGHT, (chunk) => this.outcomes.committed(chunk));
    const sagaCommits: Array<{ command: CommandRecord; status: string }> = [];
    const waiting: Array<{ command: CommandRecord; status: string | undefined; nextInMs: number }> = [];
    let next = 0;
    const worker = async () => {
      while (next < due.length && !this.stopping) {
        const command = due[next++]!;
        const verdict = await this.ask(command);
        if (verdict.kind === "committed" && command.sagaId) sagaCommits.push({ command, status: verdict.status });
        else if (verdict.kind === "committed") commits.add({ command, status: verdict.status });
        else if (verdict.kind === "wait") waiting.push({ command, status: verdict.status, nextInMs: backoff(command.polls, this.options) });
        else await this.settle(command, verdict);
      }
    };
    const asked = Promise.all(Array.from({ length: Math.min(this.options.concurrency, due.length) }, worker));
    const results = await Promise.allSettled([
      asked,
      asked.finally(() => commits.finish()),
      asked.then(() => this.outcomes.committed(sagaCommits)),
      asked.then(() => this.log.recordPolls(waiting)),
    ]);
    for (const result of results) if (result.status === "rejected") throw result.reason;
    return due.length;
  }

  private async ask(command: CommandRecord): Promise<Verdict> {
    let answer: TransactionStatus | undefined;
    try {
      answer = await this.registry.status(command.txId);
      this.metrics.reachable.set(1);
    } catch (error) {
      if (!(error instanceof RegistryUnreachable)) throw error;
      this.metrics.reachable.set(0);
    }
    return judge(command, answer, this.options, Date.now());
  }

  private async settle(command: CommandRecord, verdict: Extract<Verdict, { kind: "failed" | "indeterminate" }>): Promise<void> {
    if (verdict.kind === "failed") await this.outcomes.failed(command, verdict.message, ["sent"]);
    else await this.outcomes.indeterminate(command, verdict.reason, verdict.status);
  }
}

/**
 * Runs `work` on chunks of `size` items as they are added, at most `inFlight` chunks at once;
 * `finish` runs the rest and rejects with the first failure once every chunk has ended.
 */
class ChunkedWork<T> {
  private pending: T[] = [];
  private readonly running = new Set<Promise<unknown>>();
  private readonly ended: Array<PromiseSettledResult<unknown>> = [];

  constructor(
    private readonly size: number,
    private readonly inFlight: number,
    private readonly work: (chunk: T[]) => Promise<unknown>,
  ) {}

  add(item: T): void {
    this.pending.push(item);
    if (this.pending.length >= this.size && this.running.size < this.inFlight) this.launch();
  }

  async finish(): Promise<void> {
    while (this.pending.length > 0 || this.running.size > 0) {
      if (this.pending.length > 0 && this.running.size < this.inFlight) this.launch();
      else await Promise.race(this.running);
    }
    const failure = this.ended.find((result) => result.status === "rejected");
    if (failure) throw (failure as PromiseRejectedResult).reason;
  }

  private launch(): void {
    const chunk = this.pending.splice(0, this.size);
    const run: Promise<unknown> = this.work(chunk).then(
      (value) => this.ended.push({ status: "fulfilled", value }),
      (reason: unknown) => this.ended.push({ status: "rejected", reason }),
    );
    this.running.add(run);
    void run.finally(() => {
      this.running.delete(run);
      if (this.pending.length >= this.size && this.running.size < this.inFlight) this.launch();
    });
  }
}

/**
 * Polls asked at a steady pollMs after a send before the delay starts doubling: most commits
 * land within a few seconds, and doubling from the first poll would see a 2 s commit only at 3 s
 * (1 + 2), a 4 s one at 7 s.
 */
export const STEADY_POLLS = 4;

/** Next poll delay: pollMs for the first STEADY_POLLS polls, then doubling per poll, capped at pollMaxMs. */
export function backoff(polls: number, options: Pick<ConnectorOptions, "pollMs" | "pollMaxMs">): number {
  const doublings = Math.max(0, polls - STEADY_POLLS + 1);
  return Math.min(options.pollMaxMs, options.pollMs * 2 ** Math.min(doublings, 20));
}

/**
 * What a status answer means for a command. `unknown` is waited out for the grace period (the
 * request may still be on its way), but `unknown` after `pending` means the registry forgot
 * (a failed status expires): the truth is lost, so the command becomes indeterminate, as it does
 * past its deadline. An unreachable registry (no answer) only waits, until the deadline.
 */
export function judge(
  command: Pick<CommandRecord, "pendingSeen" | "sentAt" | "deadlineAt">,
  answer: TransactionStatus | undefined,
  options: Pick<ConnectorOptions, "unknownGraceMs">,
  now: number,
): Verdict {
  if (answer?.status === "committed" || answer?.status === "finalized") return { kind: "committed", status: answer.status };
  if (answer?.status === "failed") return { kind: "failed", message: answer.message ?? "the registry failed the transaction" };
  const pastDeadline = command.deadlineAt !== null && now >= command.deadlineAt.getTime();
  if (answer?.status === "unknown") {
    if (command.pendingSeen) return { kind: "indeterminate", reason: "the registry no longer knows the transaction it had as pending (status forgotten)", status: "unknown" };
    const sentAt = command.sentAt?.getTime() ?? now;
    if (now - sentAt >= options.unknownGraceMs) return { kind: "indeterminate", reason: "the registry does not know the transaction after the grace period", status: "unknown" };
  }
  if (pastDeadline) return { kind: "indeterminate", reason: "no final status before the deadline", status: answer?.status ?? "unreachable" };
  return { kind: "wait", status: answer?.status };
}
