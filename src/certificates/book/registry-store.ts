import { sql, type Selectable } from "kysely";
import type { Executor, RegistryCertificatesTable } from "../../core/db/schema.js";
import type { CertificateState } from "../../core/notifications/certificate.js";
import { certificateState } from "./envelopes.js";

/** A certificate as the registry keeps it: its state plus bookkeeping. */
export interface CertificateRecord {
  state: CertificateState;
  /** Hour of the year (0-based) of an hourly certificate. */
  hour: number | null;
  initialOwner: string;
  conversionId: string | null;
  convertedAt: Date | null;
  registeredBy: string;
  createdAt: Date;
  updatedAt: Date;
  /**
   * False for an hourly certificate whose conversion is still publishing: it may not change
   * until then, so that its own notifications stay behind its `certificate.issued`.
   */
  settled: boolean;
}

export interface CertificateFilter {
  kind?: "annual" | "hourly" | undefined;
  owner?: string | undefined;
  status?: string | undefined;
  energySource?: string | undefined;
  gridArea?: string | undefined;
  deviceId?: string | undefined;
  parentCertificateId?: string | undefined;
  /** Certificates whose period overlaps [periodFrom, periodTo). */
  periodFrom?: Date | undefined;
  periodTo?: Date | undefined;
}

/** What the hourly certificates of one annual certificate add up to, for validation. */
export interface FamilyFacts {
  count: number;
  totalWh: number;
  distinctHours: number;
  distinctStarts: number;
  minHour: number | null;
  maxHour: number | null;
  outsideParent: number;
  notOneHour: number;
  misplaced: number;
  sourceMismatch: number;
  idMismatch: number;
  otherConversion: number;
  /** Hourly certificates at version 1 (as issued) that are not active. */
  badStatus: number;
}

/** The book's store: certificates as the registry committed them (changes come through apply-command.ts). */
export interface CertificateStore {
  find(id: string): Promise<CertificateRecord | undefined>;
  list(filter: CertificateFilter, limit: number, afterId?: string): Promise<CertificateRecord[]>;
  family(annualId: string): Promise<FamilyFacts>;
  /** Hourly certificates of `annualId` starting at this hour. */
  hoursStartingAt(annualId: string, start: Date): Promise<number>;
}

export type CertificateRow = Selectable<RegistryCertificatesTable> & { settled?: boolean };

/** Certificates with whether they are settled (see CertificateRecord.settled). */
export function selectCertificates(executor: Executor) {
  return executor
    .selectFrom("registry_certificates as c")
    .leftJoin("registry_certificates as p", "p.certificate_id", "c.parent_certificate_id")
    .selectAll("c")
    .select(sql<boolean>`(c.parent_certificate_id IS NULL OR p.converted_at IS NOT NULL)`.as("settled"));
}

export function toRecord(row: CertificateRow): CertificateRecord {
  return {
    state: certificateState({
      certificateId: row.certificate_id,
      kind: row.kind,
      deviceId: row.device_id,
      gridArea: row.grid_area,
      energySource: row.energy_source,
      periodStart: row.period_start,
      periodEnd: row.period_end,
      quantityWh: row.quantity_wh,
      owner: row.owner,
      status: row.status,
      parentCertificateId: row.parent_certificate_id,
      version: row.version,
    }),
    hour: row.hour_index,
    initialOwner: row.initial_owner,
    conversionId: row.conversion_id,
    convertedAt: row.converted_at,
    registeredBy: row.registered_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    settled: row.settled ?? row.parent_certificate_id === null,
  };
}

export class PostgresCertificateStore implements CertificateStore {
  constructor(private readonly db: Executor) {}

  async find(id: string): Promise<CertificateRecord | undefined> {
    const row = await selectCertificates(this.db).where("c.certificate_id", "=", id).executeTakeFirst();
    return row && toRecord(row);
  }

  async list(filter: CertificateFilter, limit: number, afterId?: string): Promise<CertificateRecord[]> {
    let query = selectCertificates(this.db).orderBy("c.certificate_id").limit(limit);
    if (filter.kind) query = query.where("c.kind", "=", filter.kind);
    if (filter.owner) query = query.where("c.owner", "=", filter.owner);
    if (filter.status) query = query.where("c.status", "=", filter.status);
    if (filter.energySource) query = query.where("c.energy_source", "=", filter.energySource);
    if (filter.gridArea) query = query.where("c.grid_area", "=", filter.gridArea);
    if (filter.deviceId) query = query.where("c.device_id", "=", filter.deviceId);
    if (filter.parentCertificateId) query = query.where("c.parent_certificate_id", "=", filter.parentCertificateId);
    if (filter.periodFrom) query = query.where("c.period_end", ">", filter.periodFrom);
    if (filter.periodTo) query = query.where("c.period_start", "<", filter.periodTo);
    if (afterId !== undefined) query = query.where("c.certificate_id", ">", afterId);
    return (await query.execute()).map(toRecord);
  }

  async family(annualId: string): Promise<FamilyFacts> {
    const result = await sql<FamilyFacts>`
      SELECT count(c.certificate_id)::int AS "count",
        coalesce(sum(c.quantity_wh), 0)::bigint AS "totalWh",
        count(DISTINCT c.hour_index)::int AS "distinctHours",
        count(DISTINCT c.period_start)::int AS "distinctStarts",
        min(c.hour_index) AS "minHour",
        max(c.hour_index) AS "maxHour",
        count(*) FILTER (WHERE c.period_start < p.period_start OR c.period_end > p.period_end)::int AS "outsideParent",
        count(*) FILTER (WHERE c.period_end - c.period_start <> interval '1 hour')::int AS "notOneHour",
        count(*) FILTER (WHERE c.period_start <> p.period_start + make_interval(hours => c.hour_index))::int AS "misplaced",
        count(*) FILTER (WHERE c.energy_source <> p.energy_source OR c.grid_area <> p.grid_area OR c.device_id <> p.device_id)::int AS "sourceMismatch",
        count(*) FILTER (WHERE c.kind <> 'hourly' OR c.certificate_id <> p.certificate_id || '-h' || lpad(c.hour_index::text, 4, '0'))::int AS "idMismatch",
        count(*) FILTER (WHERE c.conversion_id IS DISTINCT FROM p.conversion_id)::int AS "otherConversion",
        count(*) FILTER (WHERE c.version = 1 AND c.status <> 'active')::int AS "badStatus"
      FROM registry_certificates p
      LEFT JOIN registry_certificates c ON c.parent_certificate_id = p.certificate_id AND c.sliced_from IS NULL
      WHERE p.certificate_id = ${annualId}
    `.execute(this.db);
    return result.rows[0]!;
  }

  async hoursStartingAt(annualId: string, start: Date): Promise<number> {
    const row = await this.db
      .selectFrom("registry_certificates")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("parent_certificate_id", "=", annualId)
      .where("period_start", "=", start)
      .where("sliced_from", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}
