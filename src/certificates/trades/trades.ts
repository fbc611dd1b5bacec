import { AppError, conflict, notFound } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { Logger } from "../../core/logger.js";
import type { CertificateStore } from "../book/registry-store.js";
import type { CommandLog, CommandRecord } from "../commands/command-log.js";
import { checkCommandable, type Commands } from "../commands/commands.js";
import type { CertificateTrade, TradeFilter, TradeRecord, TradedCertificate, TradeStore } from "./trade-store.js";

export interface TradeRequest {
  /** Idempotency key: the same trade again answers with the first one. */
  id?: string | undefined;
  seller: string;
  buyer: string;
  certificateIds: readonly string[];
  pricePerMwh?: number | undefined;
}

export interface TradeView {
  trade: TradeRecord;
  certificates: TradedCertificate[];
  commands: CommandRecord[];
}

/**
 * Trades move certificates from a seller to a buyer, all or none, as a saga (see saga.ts): at
 * acceptance every certificate is checked and reserved (a certificate with a command in flight
 * cannot trade: 409) and one transfer command per certificate is queued, with the trade, in one
 * transaction.
 */
export class Trades {
  constructor(
    private readonly store: TradeStore,
    private readonly certificates: CertificateStore,
    private readonly log: CommandLog,
    private readonly commands: Commands,
  ) {}

  async trade(request: TradeRequest, requestedBy: string, logger: Logger): Promise<{ created: boolean; trade: TradeRecord }> {
    if (request.seller === request.buyer) {
      throw new AppError("validation_failed", "buyer: must differ from the seller", [{ path: "buyer", message: "must differ from the seller" }]);
    }
    const certificateIds = [...new Set(request.certificateIds)].sort();
    if (certificateIds.length !== request.certificateIds.length) {
      throw new AppError("validation_failed", "certificateIds: names a certificate more than once", [
        { path: "certificateIds", message: "names a certificate more than once" },
      ]);
    }
    const id = request.id ?? uuidv7();
    const existing = await this.store.find(id);
    if (existing) {
      const same =
        existing.seller === request.seller &&
        existing.buyer === request.buyer &&
        existing.pricePerMwh === (request.pricePerMwh ?? null) &&
        sameIds(await this.log.bySaga(id), certificateIds);
      if (!same) throw conflict(`trade ${id} exists with other values`);
      return { created: false, trade: existing };
    }
    let trade: TradeRecord | undefined;
    await this.log.accept(certificateIds, async (contexts, trx) => {
      const plans = certificateIds.map((certificateId) => {
        const { certificate, owner, expectedVersion } = checkCommandable(certificateId, contexts.get(certificateId)!, true);
        if (owner !== request.seller) throw conflict(`the seller ${request.seller} does not own ${certificateId} (owned by ${owner})`);
        return { certificate, expectedVersion };
      });
      trade = await this.store.insert(trx, {
        id,
        seller: request.seller,
        buyer: request.buyer,
        pricePerMwh: request.pricePerMwh ?? null,
        certificateCount: plans.length,
        quantityWh: plans.reduce((sum, plan) => sum + plan.certificate.state.quantityWh, 0),
        requestedBy,
        time: new Date(),
      });
      return plans.map(({ certificate, expectedVersion }) =>
        this.commands.plan(
          certificate.state.certificateId,
          "transfer",
          { to: request.buyer },
          { to: request.buyer, tradeId: id },
          expectedVersion,
          { requestedBy, parentId: id, correlationId: id },
          { sagaId: id, sagaRole: "forward" },
        ),
      );
    });
    this.commands.accepted();
    logger.info({ tradeId: id, certificates: trade!.certificateCount, quantityWh: trade!.quantityWh }, "trade accepted: one transfer command per certificate");
    return { created: true, trade: trade! };
  }

  async get(id: string): Promise<TradeView> {
    const trade = await this.store.find(id);
    if (!trade) throw notFound(`trade ${id}`);
    const [certificates, commands] = await Promise.all([this.store.certificatesOf(id), this.log.bySaga(id)]);
    return { trade, certificates, commands };
  }

  /** Waits up to `seconds` for the trade to end (completed or failed). */
  async waitFor(id: string, seconds: number): Promise<TradeView> {
    const deadline = Date.now() + seconds * 1000;
    for (let pause = 20; ; pause = Math.min(250, pause * 2)) {
      const view = await this.get(id);
      if (view.trade.state === "completed" || view.trade.state === "failed" || Date.now() >= deadline) return view;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(1, deadline - Date.now()))));
    }
  }

  list(filter: TradeFilter, limit: number, afterId?: string): Promise<TradeRecord[]> {
    return this.store.list(filter, limit, afterId);
  }

  async historyOf(certificateId: string, limit: number, afterVersion: number): Promise<CertificateTrade[]> {
    if (!(await this.certificates.find(certificateId))) throw notFound(`certificate ${certificateId}`);
    return this.store.historyOf(certificateId, limit, afterVersion);
  }
}

function sameIds(commands: CommandRecord[], ids: readonly string[]): boolean {
  const forwards = commands.filter((command) => command.sagaRole === "forward");
  if (forwards.length !== ids.length) return false;
  const set = new Set(ids);
  return forwards.every((command) => set.has(command.certificateId));
}
