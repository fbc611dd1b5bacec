import type { Selectable } from "kysely";
import type { Executor, TradeState, TradesTable } from "../../core/db/schema.js";

export interface TradeRecord {
  id: string;
  seller: string;
  buyer: string;
  pricePerMwh: number | null;
  certificateCount: number;
  quantityWh: number;
  requestedBy: string;
  createdAt: Date;
  state: TradeState;
  error: string | null;
  finishedAt: Date | null;
}

export interface TradedCertificate {
  certificateId: string;
  quantityWh: number;
  previousOwner: string;
  /** The certificate's version after the transfer. */
  version: number;
}

export interface NewTrade {
  id: string;
  seller: string;
  buyer: string;
  pricePerMwh: number | null;
  certificateCount: number;
  quantityWh: number;
  requestedBy: string;
  time: Date;
}

export interface TradeFilter {
  /** Trades where this owner sold or bought. */
  owner?: string | undefined;
  certificateId?: string | undefined;
}

export interface CertificateTrade extends TradedCertificate {
  trade: TradeRecord;
}

/** Trades: sagas over transfer commands; the saga's steps write here inside the command's transaction. */
export interface TradeStore {
  insert(trx: Executor, trade: NewTrade): Promise<TradeRecord>;
  find(id: string, executor?: Executor): Promise<TradeRecord | undefined>;
  /** The trade under a row lock, so two finishing transfers move the saga one after the other. */
  lock(trx: Executor, id: string): Promise<TradeRecord | undefined>;
  setState(trx: Executor, id: string, state: TradeState, error: string | null): Promise<void>;
  /** Records a certificate the trade moved (its forward transfer committed). */
  addCertificate(trx: Executor, tradeId: string, certificate: TradedCertificate): Promise<void>;
  certificatesOf(tradeId: string): Promise<TradedCertificate[]>;
  list(filter: TradeFilter, limit: number, afterId?: string): Promise<TradeRecord[]>;
  /** The trades of one certificate, oldest first. */
  historyOf(certificateId: string, limit: number, afterVersion: number): Promise<CertificateTrade[]>;
}

const toTrade = (row: Selectable<TradesTable>): TradeRecord => ({
  id: row.id,
  seller: row.seller,
  buyer: row.buyer,
  pricePerMwh: row.price_per_mwh,
  certificateCount: row.certificate_count,
  quantityWh: row.quantity_wh,
  requestedBy: row.requested_by,
  createdAt: row.created_at,
  state: row.state,
  error: row.error,
  finishedAt: row.finished_at,
});

export class PostgresTradeStore implements TradeStore {
  constructor(private readonly db: Executor) {}

  async insert(trx: Executor, trade: NewTrade): Promise<TradeRecord> {
    const row = await trx
      .insertInto("trades")
      .values({
        id: trade.id,
        seller: trade.seller,
        buyer: trade.buyer,
        price_per_mwh: trade.pricePerMwh,
        certificate_count: trade.certificateCount,
        quantity_wh: trade.quantityWh,
        requested_by: trade.requestedBy,
        created_at: trade.time,
        state: "pending",
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTrade(row);
  }

  async lock(trx: Executor, id: string): Promise<TradeRecord | undefined> {
    const row = await trx.selectFrom("trades").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
    return row && toTrade(row);
  }

  async setState(trx: Executor, id: string, state: TradeState, error: string | null): Promise<void> {
    const finished = state === "completed" || state === "failed";
    await trx.updateTable("trades").set({ state, error, finished_at: finished ? new Date() : null }).where("id", "=", id).execute();
  }

  async addCertificate(trx: Executor, tradeId: string, certificate: TradedCertificate): Promise<void> {
    await trx
      .insertInto("trade_certificates")
      .values({
        trade_id: tradeId,
        certificate_id: certificate.certificateId,
        quantity_wh: certificate.quantityWh,
        previous_owner: certificate.previousOwner,
        version: certificate.version,
      })
      .onConflict((conflict) => conflict.columns(["trade_id", "certificate_id"]).doNothing())
      .execute();
  }

  async find(id: string, executor: Executor = this.db): Promise<TradeRecord | undefined> {
    const row = await executor.selectFrom("trades").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toTrade(row);
  }

  async certificatesOf(tradeId: string): Promise<TradedCertificate[]> {
    const rows = await this.db
      .selectFrom("trade_certificates")
      .select(["certificate_id", "quantity_wh", "previous_owner", "version"])
      .where("trade_id", "=", tradeId)
      .orderBy("certificate_id")
      .execute();
    return rows.map((row) => ({ certificateId: row.certificate_id, quantityWh: row.quantity_wh, previousOwner: row.previous_owner, version: row.version }));
  }

  async list(filter: TradeFilter, limit: number, afterId?: string): Promise<TradeRecord[]> {
    let query = this.db.selectFrom("trades as t").selectAll("t").orderBy("t.id").limit(limit);
    if (filter.owner) query = query.where((eb) => eb.or([eb("t.seller", "=", filter.owner!), eb("t.buyer", "=", filter.owner!)]));
    if (filter.certificateId) {
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom("trade_certificates as tc")
            .select("tc.trade_id")
            .whereRef("tc.trade_id", "=", "t.id")
            .where("tc.certificate_id", "=", filter.certificateId!),
        ),
      );
    }
    if (afterId !== undefined) query = query.where("t.id", ">", afterId);
    return (await query.execute()).map(toTrade);
  }

  async historyOf(certificateId: string, limit: number, afterVersion: number): Promise<CertificateTrade[]> {
    const rows = await this.db
      .selectFrom("trade_certificates as tc")
      .innerJoin("trades as t", "t.id", "tc.trade_id")
      .selectAll("t")
      .select(["tc.certificate_id", "tc.quantity_wh as traded_wh", "tc.previous_owner", "tc.version"])
      .where("tc.certificate_id", "=", certificateId)
      .where("tc.version", ">", afterVersion)
      .orderBy("tc.version")
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      certificateId: row.certificate_id,
      quantityWh: row.traded_wh,
      previousOwner: row.previous_owner,
      version: row.version,
      trade: toTrade(row),
    }));
  }
}
