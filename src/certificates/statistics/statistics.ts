import { sql } from "kysely";
import type { Executor } from "../../core/db/schema.js";

export interface Bucket {
  count: number;
  quantityWh: number;
  mwh: number;
}

export interface RegistryStatistics {
  certificates: Bucket & {
    byKind: Array<Bucket & { kind: string }>;
    byStatus: Array<Bucket & { status: string }>;
    byEnergySource: Array<Bucket & { energySource: string }>;
  };
  conversions: {
    count: number;
    byStatus: Record<"queued" | "running" | "persisted" | "done" | "failed", number>;
    /** done / (done + failed); null before any conversion finished. */
    successRate: number | null;
    meanDurationMs: number | null;
  };
  trades: {
    count: number;
    certificates: number;
    quantityWh: number;
    mwh: number;
    pricedCount: number;
    /** Volume-weighted over priced trades: sum(price x MWh) / sum(MWh). */
    meanPricePerMwh: number | null;
    /** Plain mean of the priced trades' prices. */
    meanTradePricePerMwh: number | null;
  };
  generatedAt: string;
}

export interface StatisticsStore {
  collect(): Promise<RegistryStatistics>;
}

const bucket = (count: number, quantityWh: number): Bucket => ({ count, quantityWh, mwh: quantityWh / 1_000_000 });

/** Registry-wide figures, each set in one scan. */
export class PostgresStatisticsStore implements StatisticsStore {
  constructor(private readonly db: Executor) {}

  async collect(): Promise<RegistryStatistics> {
    const [certificates, conversions, trades] = await Promise.all([this.certificates(), this.conversions(), this.trades()]);
    return { certificates, conversions, trades, generatedAt: new Date().toISOString() };
  }

  private async certificates(): Promise<RegistryStatistics["certificates"]> {
    const { rows } = await sql<{ kind: string | null; status: string | null; energy_source: string | null; set: number; count: number; wh: number }>`
      SELECT kind, status, energy_source, GROUPING(kind, status, energy_source)::int AS set, count(*)::int AS count,
        coalesce(sum(quantity_wh), 0)::bigint AS wh
      FROM registry_certificates
      GROUP BY GROUPING SETS ((kind), (status), (energy_source), ())
    `.execute(this.db);
    // GROUPING bits (kind, status, energy_source): 0b011 = by kind, 0b101 = by status, 0b110 = by source, 0b111 = total.
    const total = rows.find((row) => row.set === 7);
    return {
      ...bucket(total?.count ?? 0, total?.wh ?? 0),
      byKind: rows.filter((row) => row.set === 3).map((row) => ({ kind: row.kind!, ...bucket(row.count, row.wh) })),
      byStatus: rows.filter((row) => row.set === 5).map((row) => ({ status: row.status!, ...bucket(row.count, row.wh) })),
      byEnergySource: rows.filter((row) => row.set === 6).map((row) => ({ energySource: row.energy_source!, ...bucket(row.count, row.wh) })),
    };
  }

  private async conversions(): Promise<RegistryStatistics["conversions"]> {
    const { rows } = await sql<{ status: string; count: number; mean_ms: number | null }>`
      SELECT status, count(*)::int AS count,
        (avg(extract(epoch FROM finished_at - started_at)) * 1000)::float8 AS mean_ms
      FROM conversions GROUP BY status
    `.execute(this.db);
    const byStatus = { queued: 0, running: 0, persisted: 0, done: 0, failed: 0 };
    for (const row of rows) byStatus[row.status as keyof typeof byStatus] = row.count;
    const finished = byStatus.done + byStatus.failed;
    const done = rows.find((row) => row.status === "done");
    return {
      count: rows.reduce((sum, row) => sum + row.count, 0),
      byStatus,
      successRate: finished === 0 ? null : byStatus.done / finished,
      meanDurationMs: done?.mean_ms == null ? null : Math.round(done.mean_ms),
    };
  }

  private async trades(): Promise<RegistryStatistics["trades"]> {
    const { rows } = await sql<{ count: number; certificates: number; wh: number; priced: number; weighted: number | null; plain: number | null }>`
      SELECT count(*)::int AS count, coalesce(sum(certificate_count), 0)::bigint AS certificates, coalesce(sum(quantity_wh), 0)::bigint AS wh,
        count(price_per_mwh)::int AS priced,
        (sum(price_per_mwh * quantity_wh) / nullif(sum(quantity_wh) FILTER (WHERE price_per_mwh IS NOT NULL), 0))::float8 AS weighted,
        avg(price_per_mwh)::float8 AS plain
      FROM trades
    `.execute(this.db);
    const row = rows[0]!;
    return {
      count: row.count,
      certificates: row.certificates,
      quantityWh: row.wh,
      mwh: row.wh / 1_000_000,
      pricedCount: row.priced,
      meanPricePerMwh: row.weighted,
      meanTradePricePerMwh: row.plain,
    };
  }
}
