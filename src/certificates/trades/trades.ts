import { AppError, conflict, notFound } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { Logger } from "../../core/logger.js";
import { registryNotification } from "../book/envelopes.js";
import type { OutboxRelay } from "../book/outbox.js";
import type { CertificateRecord, CertificateStore } from "../book/registry-store.js";
import type { CertificateTrade, TradeFilter, TradeRecord, TradedCertificate, TradeStore } from "./trade-store.js";

export interface TradeRequest {
  /** Idempotency key: the same trade again answers with the first one. */
  id?: string | undefined;
  seller: string;
  buyer: string;
  certificateIds: readonly string[];
  pricePerMwh?: number | undefined;
}

const NAMED = 10;

const list = (ids: readonly string[]) => ids.slice(0, NAMED).join(", ") + (ids.length > NAMED ? ` and ${ids.length - NAMED} more` : "");

/**
 * Trades move certificates from a seller to a buyer, all of them or none. Concurrent trades of
 * the same certificate serialise on its row lock: the first commits, the next sees the new owner
 * and is refused with 409. Each certificate's `certificate.transferred` commits with the trade.
 */
export class Trades {
  constructor(
    private readonly store: TradeStore,
    private readonly certificates: CertificateStore,
    private readonly relay: OutboxRelay,
    private readonly sourceVersion: string,
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
    const time = new Date();
    const { created, trade } = await this.store.execute(
      { id, seller: request.seller, buyer: request.buyer, certificateIds, pricePerMwh: request.pricePerMwh ?? null, requestedBy, time },
      (found) => this.transfer(found, certificateIds, request, id, time),
    );
    if (!created) {
      const same =
        trade.seller === request.seller &&
        trade.buyer === request.buyer &&
        trade.pricePerMwh === (request.pricePerMwh ?? null) &&
        sameIds(await this.store.certificatesOf(id), certificateIds);
      if (!same) throw conflict(`trade ${id} exists with other values`);
      return { created, trade };
    }
    logger.info({ tradeId: id, certificates: trade.certificateCount, quantityWh: trade.quantityWh }, "trade executed");
    await this.relay.flushQuietly();
    return { created, trade };
  }

  async get(id: string): Promise<{ trade: TradeRecord; certificates: TradedCertificate[] }> {
    const trade = await this.store.find(id);
    if (!trade) throw notFound(`trade ${id}`);
    return { trade, certificates: await this.store.certificatesOf(id) };
  }

  list(filter: TradeFilter, limit: number, afterId?: string): Promise<TradeRecord[]> {
    return this.store.list(filter, limit, afterId);
  }

  async historyOf(certificateId: string, limit: number, afterVersion: number): Promise<CertificateTrade[]> {
    if (!(await this.certificates.find(certificateId))) throw notFound(`certificate ${certificateId}`);
    return this.store.historyOf(certificateId, limit, afterVersion);
  }

  /** Under the row locks: every certificate exists, is active, settled, and the seller's; else nothing moves. */
  private transfer(found: CertificateRecord[], ids: readonly string[], request: TradeRequest, tradeId: string, time: Date) {
    const present = new Set(found.map((record) => record.state.certificateId));
    const missing = ids.filter((id) => !present.has(id));
    if (missing.length > 0) throw notFound(`certificate${missing.length > 1 ? "s" : ""} ${list(missing)}`);
    const inactive = found.filter((record) => record.state.status !== "active");
    if (inactive.length > 0) {
      throw conflict(`only active certificates trade: ${list(inactive.map((record) => `${record.state.certificateId} is ${record.state.status}`))}`);
    }
    const foreign = found.filter((record) => record.state.owner !== request.seller);
    if (foreign.length > 0) {
      throw conflict(
        `the seller ${request.seller} does not own ${list(foreign.map((record) => `${record.state.certificateId} (owned by ${record.state.owner})`))}`,
      );
    }
    const unsettled = found.filter((record) => !record.settled);
    if (unsettled.length > 0) {
      throw conflict(`still being issued by their conversion: ${list(unsettled.map((record) => record.state.certificateId))}; retry when it is done`);
    }
    return found.map((record) =>
      registryNotification(
        {
          type: "certificate.transferred",
          state: { ...record.state, owner: request.buyer, version: record.state.version + 1 },
          extras: { previousOwner: record.state.owner, tradeId },
          time,
          causeId: tradeId,
        },
        this.sourceVersion,
      ),
    );
  }
}

function sameIds(traded: TradedCertificate[], ids: readonly string[]): boolean {
  if (traded.length !== ids.length) return false;
  const set = new Set(ids);
  return traded.every((certificate) => set.has(certificate.certificateId));
}
