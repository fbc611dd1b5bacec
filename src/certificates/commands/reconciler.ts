import type { Executor } from "../../core/db/schema.js";
import type { Logger } from "../../core/logger.js";
import { RegistryUnreachable, type CertificateRegistry } from "../../core/registry/port.js";
import { decodeTransaction, type CertificateTransactions, type TransactionStatus } from "../../core/registry/wire.js";
import { bookFacts } from "../book/apply-command.js";
import { uuidv5 } from "../book/ids.js";
import { enqueueNotifications, type OutboxRelay } from "../book/outbox.js";
import type { CommandLog, CommandRecord } from "./command-log.js";
import { misalignmentEvent } from "./events.js";
import type { RegistryMetrics } from "./metrics.js";
import type { CommandOutcomes } from "./outcomes.js";

export interface ReconcileReport {
  polled: number;
  resolved: number;
  compared: number;
  misalignments: Array<{ id: string; certificateId: string; local: unknown; registry: unknown }>;
  streams: "compared" | "unsupported";
}

interface Facts {
  owner: string;
  status: string;
  version: number;
}

const PAGE = 500;

/**
 * Reconciliation: asks about every unfinished command again and settles what the registry's
 * answer allows (an indeterminate one through `registry.command.resolved`), then, where the
 * registry offers a certificate's transactions, replays them and compares the result with the
 * book. A difference is reported once as `registry.misalignment.detected`; the book is never
 * overwritten (the registry is the truth, but only a person or a command changes the book).
 * The comparison needs only the book and the unfinished commands, never a finished command's
 * row, so retention may remove finished commands without making their transactions look foreign.
 * The scheduled pass runs in one process, under the `registry-reconciler` lease.
 */
export class Reconciler {
  constructor(
    private readonly db: Executor,
    private readonly log: CommandLog,
    private readonly registry: CertificateRegistry,
    private readonly outcomes: CommandOutcomes,
    private readonly relay: OutboxRelay,
    private readonly metrics: RegistryMetrics,
    private readonly logger: Logger,
    private readonly sourceVersion: string,
  ) {}

  async run(certificateIds?: readonly string[]): Promise<ReconcileReport> {
    const report: ReconcileReport = { polled: 0, resolved: 0, compared: 0, misalignments: [], streams: "compared" };
    for (const command of await this.log.unfinished(10_000)) {
      report.polled++;
      if (await this.settle(command)) report.resolved++;
    }
    let after = "";
    for (;;) {
      const ids = certificateIds ? (after === "" ? [...certificateIds] : []) : await this.bookPage(after);
      if (ids.length === 0) break;
      after = ids[ids.length - 1]!;
      const compared = await this.compare(ids, report);
      if (compared === "unsupported") {
        report.streams = "unsupported";
        break;
      }
      if (certificateIds) break;
    }
    if (report.misalignments.length > 0) await this.relay.flushQuietly();
    this.logger.info({ ...report, misalignments: report.misalignments.length }, "reconciliation pass done");
    return report;
  }

  private async settle(command: CommandRecord): Promise<boolean> {
    let answer: TransactionStatus;
    try {
      answer = await this.registry.status(command.txId);
    } catch (error) {
      if (error instanceof RegistryUnreachable) return false;
      throw error;
    }
    const committed = answer.status === "committed" || answer.status === "finalized";
    if (command.state === "sent") {
      if (committed) return (await this.outcomes.committed([{ command, status: answer.status }], ["sent"])) === 1;
      if (answer.status === "failed") return this.outcomes.failed(command, answer.message ?? "the registry failed the transaction", ["sent"]);
      return false;
    }
    if (committed) return this.outcomes.resolve(command, { outcome: "committed", evidence: `registry status ${answer.status}`, by: "reconciliation" });
    if (answer.status === "failed") return this.outcomes.resolve(command, { outcome: "failed", evidence: `registry status failed: ${answer.message ?? ""}`.trim(), by: "reconciliation" });
    const stream = await this.stream(command.certificateId);
    if (stream !== "unsupported" && stream?.transactions.some((transaction) => transaction.txId === command.txId)) {
      return this.outcomes.resolve(command, { outcome: "committed", evidence: "found in the certificate's committed transactions", by: "reconciliation" });
    }
    // Not found is no proof it never arrives (the registry does not dedupe): an operator decides.
    return false;
  }

  private async compare(ids: readonly string[], report: ReconcileReport): Promise<number | "unsupported"> {
    const unfinished = await this.db
      .selectFrom("registry_commands")
      .select("certificate_id")
      .where("state", "not in", ["committed", "failed"])
      .where("certificate_id", "in", ids)
      .execute();
    const busy = new Set(unfinished.map((row) => row.certificate_id));
    let compared = 0;
    for (const book of await bookFacts(this.db, ids)) {
      // A certificate with a command under way may differ for good reason until it ends.
      if (busy.has(book.certificate_id)) continue;
      const stream = await this.stream(book.certificate_id);
      if (stream === "unsupported") return "unsupported";
      if (!stream) continue;
      compared++;
      report.compared++;
      const registry = replay(book.certificate_id, stream);
      const local: Facts = { owner: book.owner, status: book.status, version: book.version };
      if (registry && registry.owner === local.owner && registry.status === local.status && registry.version === local.version) continue;
      const found = await this.report(book.certificate_id, local, registry ?? { missing: true });
      if (found) report.misalignments.push(found);
    }
    return compared;
  }

  private async report(certificateId: string, local: Facts, registry: Facts | { missing: true }) {
    const id = uuidv5(`${certificateId}#misaligned#${JSON.stringify(local)}#${JSON.stringify(registry)}`);
    const recorded = await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto("registry_misalignments")
        .values({ id, certificate_id: certificateId, local: JSON.stringify(local), registry: JSON.stringify(registry), detected_by: "stream" })
        .onConflict((conflict) => conflict.column("id").doNothing())
        .returning("id")
        .executeTakeFirst();
      if (!inserted) return false;
      await enqueueNotifications(trx, [
        misalignmentEvent({ id, certificateId, local, registry, detectedBy: "stream", parentId: null, time: new Date(), sourceVersion: this.sourceVersion }),
      ]);
      return true;
    });
    if (!recorded) return undefined;
    this.metrics.misalignments.inc();
    this.logger.warn({ certificateId, local, registry }, "registry and book disagree; reported, book left as it is");
    return { id, certificateId, local, registry };
  }

  private async stream(certificateId: string): Promise<CertificateTransactions | "unsupported" | undefined> {
    try {
      return await this.registry.certificateTransactions(certificateId);
    } catch (error) {
      if (error instanceof RegistryUnreachable) return undefined;
      throw error;
    }
  }

  private async bookPage(after: string): Promise<string[]> {
    const rows = await this.db.selectFrom("registry_certificates").select("certificate_id").where("certificate_id", ">", after).orderBy("certificate_id").limit(PAGE).execute();
    return rows.map((row) => row.certificate_id);
  }
}

/** A certificate's owner, status and version as its committed transactions make them. */
export function replay(certificateId: string, stream: CertificateTransactions): Facts | undefined {
  let facts: Facts | undefined;
  for (const { bytes } of stream.transactions) {
    const decoded = decodeTransaction(bytes);
    if (!decoded.ok) continue;
    const { header, payload } = decoded.transaction;
    if (header.type === "issue") {
      facts = { owner: String(payload.owner), status: "active", version: 1 };
      continue;
    }
    if (header.type === "slice" && header.certificateId !== certificateId) {
      const part = (payload.parts as Array<{ certificateId: string; owner: string }>).find((candidate) => candidate.certificateId === certificateId);
      if (part) facts = { owner: part.owner, status: "active", version: 1 };
      continue;
    }
    if (!facts) continue;
    facts.version++;
    if (header.type === "transfer") facts.owner = String(payload.to);
    else facts.status = { cancel: "cancelled", slice: "cancelled", claim: "claimed", withdraw: "withdrawn" }[header.type];
  }
  return facts;
}
