import { sql, type Selectable } from "kysely";
import type { Executor, TradesTable } from "../../core/db/schema.js";
import type { Notification } from "../../core/notifications/envelope.js";
import { enqueueNotifications } from "../book/outbox.js";
import { selectCertificates, toRecord, type CertificateRecord } from "../book/registry-store.js";

export interface TradeRecord {
  id: string;
  seller: string;
  buyer: string;
  pricePerMwh: number | null;
  certificateCount: number;
  quantityWh: number;
  requestedBy: string;
  createdAt: Date;
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
  /** Sorted and unique: rows are locked in this order, so concurrent trades cannot deadlock. */
  certificateIds: readonly string[];
  pricePerMwh: number | null;
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

/**
 * Trades: moving certificates between owners, all or none, under row locks taken in id order.
 * `decide` sees the locked certificates and returns one notification per certificate, or throws.
 */
export interface TradeStore {
  execute(
    trade: NewTrade,
    decide: (certificates: CertificateRecord[]) => Notification[],
  ): Promise<{ created: boolean; trade: TradeRecord }>;
  find(id: string): Promise<TradeRecord | undefined>;
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
});

export class PostgresTradeStore implements TradeStore {
  constructor(private readonly db: Executor) {}

  async execute(
    trade: NewTrade,
    decide: (certificates: CertificateRecord[]) => Notification[],
  ): Promise<{ created: boolean; trade: TradeRecord }> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await selectCertificates(trx)
        .where(sql<boolean>`c.certificate_id = ANY(${trade.certificateIds}::text[])`)
        .orderBy("c.certificate_id")
        .forNoKeyUpdate("c")
        .execute();
      // Looked up after the locks: a retry of a trade that just committed finds it here.
      const existing = await trx.selectFrom("trades").selectAll().where("id", "=", trade.id).executeTakeFirst();
      if (existing) return { created: false, trade: toTrade(existing) };

      const certificates = rows.map(toRecord);
      const notifications = decide(certificates);
      const quantityWh = certificates.reduce((sum, record) => sum + record.state.quantityWh, 0);
      await trx
        .updateTable("registry_certificates")
        .set((eb) => ({ owner: trade.buyer, version: eb("version", "+", 1), updated_at: trade.time }))
        .where(sql<boolean>`certificate_id = ANY(${trade.certificateIds}::text[])`)
        .execute();
      const inserted = await trx
        .insertInto("trades")
        .values({
          id: trade.id,
          seller: trade.seller,
          buyer: trade.buyer,
          price_per_mwh: trade.pricePerMwh,
          certificate_count: certificates.length,
          quantity_wh: quantityWh,
          requested_by: trade.requestedBy,
          created_at: trade.time,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await sql`
        INSERT INTO trade_certificates (trade_id, certificate_id, quantity_wh, previous_owner, version)
        SELECT ${trade.id}::uuid, * FROM unnest(
          ${certificates.map((record) => record.state.certificateId)}::text[],
          ${certificates.map((record) => record.state.quantityWh)}::bigint[],
          ${certificates.map((record) => record.state.owner)}::text[],
          ${certificates.map((record) => record.state.version + 1)}::int[]
        )
      `.execute(trx);
      await enqueueNotifications(trx, notifications);
      return { created: true, trade: toTrade(inserted) };
    });
  }

  async find(id: string): Promise<TradeRecord | undefined> {
    const row = await this.db.selectFrom("trades").selectAll().where("id", "=", id).executeTakeFirst();
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
