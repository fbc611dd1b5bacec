import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";
import type { CommandLog, CommandRecord } from "../commands/command-log.js";
import { TERMINAL_STATES } from "../commands/command-log.js";
import type { Commands } from "../commands/commands.js";
import type { TradeStore } from "./trade-store.js";

/**
 * A trade as a saga (orchestration): one transfer command per certificate; when one fails at
 * the registry, every transfer that committed is transferred back by a compensation (a command
 * under the same rules), and the trade ends `failed`; when all commit, `completed`. Runs in the
 * transaction that finished each command, under the trade's row lock.
 */
export class TradeSaga {
  constructor(
    private readonly store: TradeStore,
    private readonly log: CommandLog,
    private readonly commands: Commands,
  ) {}

  async onCommandFinished(trx: Executor, command: CommandRecord, outcome: "committed" | "failed"): Promise<void> {
    if (!command.sagaId) return;
    const trade = await this.store.lock(trx, command.sagaId);
    if (!trade) return;
    // Recorded even when an earlier step of this transaction already completed the trade.
    if (command.sagaRole === "forward" && outcome === "committed") {
      const row = await trx.selectFrom("registry_certificates").select(["version", "quantity_wh"]).where("certificate_id", "=", command.certificateId).executeTakeFirstOrThrow();
      await this.store.addCertificate(trx, trade.id, { certificateId: command.certificateId, quantityWh: row.quantity_wh, previousOwner: trade.seller, version: row.version });
    }
    if (trade.state === "completed" || trade.state === "failed") return;
    const steps = await this.log.bySaga(trade.id, trx);
    const forwards = steps.filter((step) => step.sagaRole === "forward");
    const compensations = steps.filter((step) => step.sagaRole === "compensation");
    const failure = forwards.find((step) => step.state === "failed");
    if (!failure) {
      if (forwards.every((step) => step.state === "committed")) await this.store.setState(trx, trade.id, "completed", null);
      return;
    }
    let error = trade.error ?? `the transfer of ${failure.certificateId} failed at the registry: ${failure.error ?? "failed"}`;
    for (const forward of forwards) {
      if (forward.state !== "committed" || compensations.some((step) => step.certificateId === forward.certificateId)) continue;
      compensations.push(await this.compensate(trx, forward, trade.id, trade.seller));
    }
    const failedCompensation = compensations.find((step) => step.state === "failed");
    if (failedCompensation) error = `${error}; transferring ${failedCompensation.certificateId} back failed too (${failedCompensation.error}): an operator must settle it`;
    const done = [...forwards, ...compensations].every((step) => TERMINAL_STATES.includes(step.state));
    await this.store.setState(trx, trade.id, done ? "failed" : "compensating", error);
  }

  /** Transfers a committed certificate back to the seller, queued behind whatever is on it. */
  private async compensate(trx: Executor, forward: CommandRecord, tradeId: string, seller: string): Promise<CommandRecord> {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/certificate/' || ${forward.certificateId}, 0))`.execute(trx);
    const book = await trx.selectFrom("registry_certificates").select("version").where("certificate_id", "=", forward.certificateId).executeTakeFirstOrThrow();
    const pending = await trx
      .selectFrom("registry_commands")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("certificate_id", "=", forward.certificateId)
      .where("state", "not in", TERMINAL_STATES)
      .executeTakeFirstOrThrow();
    const plan = this.commands.plan(
      forward.certificateId,
      "transfer",
      { to: seller },
      { to: seller, tradeId, compensates: forward.id },
      book.version + Number(pending.count),
      { requestedBy: forward.requestedBy, parentId: forward.id, correlationId: forward.correlationId },
      { sagaId: tradeId, sagaRole: "compensation" },
    );
    const [compensation] = await this.log.insert(trx, [plan]);
    return compensation!;
  }
}
