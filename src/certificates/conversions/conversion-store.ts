import { sql, type Selectable } from "kysely";
import type { ConversionStatus, ConversionsTable, Executor } from "../../core/db/schema.js";
import { conflict } from "../../core/errors.js";
import type { Notification } from "../../core/notifications/envelope.js";
import type { CertificateState } from "../../core/notifications/certificate.js";
import { hourlyCertificateId } from "../book/ids.js";
import { enqueueNotifications } from "../book/outbox.js";
import { selectCertificates, toRecord as toCertificate } from "../book/registry-store.js";
import { HOUR_MS } from "./hours.js";

export interface HourlyIssue {
  hour: number;
  state: CertificateState;
}

/** Queues the issue commands of a conversion's hours, in the caller's transaction. */
export type HourlyIssuer = (trx: Executor, conversionId: string, hours: readonly HourlyIssue[], requestedBy: string) => Promise<void>;

export type ProfileKind = "uniform" | "hourly" | "csv";

export interface ConversionRecord {
  id: string;
  annualCertificateId: string;
  status: ConversionStatus;
  profileKind: ProfileKind;
  profileUnit: string | null;
  hours: number;
  quantityWh: number;
  hoursPersisted: number;
  hoursPublished: number;
  attempts: number;
  error: string | null;
  validation: unknown;
  requestedBy: string;
  createdAt: Date;
  startedAt: Date | null;
  persistedAt: Date | null;
  finishedAt: Date | null;
}

export interface NewConversion {
  id: string;
  annualCertificateId: string;
  profileKind: ProfileKind;
  profileUnit: string | null;
  /** One value (Wh) per hour; null for a uniform profile. */
  profileWh: readonly number[] | null;
  hours: number;
  quantityWh: number;
  requestedBy: string;
}

/** Conversions, and the steps that move one forward; each step is one transaction. */
export interface ConversionStore {
  /** Throws a conflict when the certificate already has a conversion that has not failed. */
  create(conversion: NewConversion): Promise<ConversionRecord>;
  find(id: string): Promise<ConversionRecord | undefined>;
  /** The conversion of this certificate that has not failed, if any. */
  activeFor(annualCertificateId: string): Promise<ConversionRecord | undefined>;
  profile(id: string): Promise<number[] | null>;
  /** Conversions not yet done or failed, oldest first. */
  unfinished(limit: number): Promise<string[]>;
  /** Marks a queued (or interrupted) conversion running and counts the attempt. */
  start(id: string): Promise<ConversionRecord | undefined>;
  /**
   * Queues one issue command per hour (through `issue`) and marks the conversion `persisted`, in
   * one transaction; false when an earlier attempt already did.
   */
  persist(id: string, quantitiesWh: ArrayLike<number>, issue: HourlyIssuer): Promise<boolean>;
  issueProgress(id: string): Promise<{ committed: number; failed: number; firstError: string | null }>;
  /** Records how many hours the registry has committed (shown as progress). */
  recordPublished(id: string, hoursPublished: number): Promise<void>;
  /** Marks it done, the annual certificate converted, and enqueues `certificate.converted`, together. */
  finish(id: string, converted: Notification, validation: unknown): Promise<void>;
  /** Fails before anything is issued, or when the registry failed an hourly issue (the hours it committed stay). */
  fail(id: string, error: string): Promise<void>;
}

const UNIQUE_VIOLATION = "23505";

function toRecord(row: Omit<Selectable<ConversionsTable>, "profile_wh">): ConversionRecord {
  return {
    id: row.id,
    annualCertificateId: row.annual_certificate_id,
    status: row.status,
    profileKind: row.profile_kind,
    profileUnit: row.profile_unit,
    hours: row.hours,
    quantityWh: row.quantity_wh,
    hoursPersisted: row.hours_persisted,
    hoursPublished: row.hours_published,
    attempts: row.attempts,
    error: row.error,
    validation: row.validation,
    requestedBy: row.requested_by,
    createdAt: row.created_at,
    startedAt: row.started_at,
    persistedAt: row.persisted_at,
    finishedAt: row.finished_at,
  };
}

const COLUMNS = [
  "id",
  "annual_certificate_id",
  "status",
  "profile_kind",
  "profile_unit",
  "hours",
  "quantity_wh",
  "hours_persisted",
  "hours_published",
  "attempts",
  "error",
  "validation",
  "requested_by",
  "created_at",
  "started_at",
  "persisted_at",
  "finished_at",
  "updated_at",
] as const;

export class PostgresConversionStore implements ConversionStore {
  constructor(private readonly db: Executor) {}

  async create(conversion: NewConversion): Promise<ConversionRecord> {
    try {
      const row = await this.db
        .insertInto("conversions")
        .values({
          id: conversion.id,
          annual_certificate_id: conversion.annualCertificateId,
          status: "queued",
          profile_kind: conversion.profileKind,
          profile_unit: conversion.profileUnit,
          profile_wh: conversion.profileWh === null ? null : JSON.stringify(conversion.profileWh),
          hours: conversion.hours,
          quantity_wh: conversion.quantityWh,
          error: null,
          validation: null,
          requested_by: conversion.requestedBy,
        })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
      return toRecord(row);
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      const existing = await this.activeFor(conversion.annualCertificateId);
      throw conflict(
        existing
          ? `certificate ${conversion.annualCertificateId} is already converted or converting (conversion ${existing.id}, ${existing.status})`
          : `conversion ${conversion.id} exists`,
      );
    }
  }

  async find(id: string): Promise<ConversionRecord | undefined> {
    const row = await this.db.selectFrom("conversions").select(COLUMNS).where("id", "=", id).executeTakeFirst();
    return row && toRecord(row);
  }

  async activeFor(annualCertificateId: string): Promise<ConversionRecord | undefined> {
    const row = await this.db
      .selectFrom("conversions")
      .select(COLUMNS)
      .where("annual_certificate_id", "=", annualCertificateId)
      .where("status", "<>", "failed")
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async profile(id: string): Promise<number[] | null> {
    const row = await this.db.selectFrom("conversions").select("profile_wh").where("id", "=", id).executeTakeFirstOrThrow();
    return (row.profile_wh as number[] | null) ?? null;
  }

  async unfinished(limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom("conversions")
      .select("id")
      .where("status", "in", ["queued", "running", "persisted"])
      .orderBy("created_at")
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  async start(id: string): Promise<ConversionRecord | undefined> {
    const row = await this.db
      .updateTable("conversions")
      .set((eb) => ({
        status: "running",
        attempts: eb("attempts", "+", 1),
        started_at: sql<Date>`coalesce(started_at, now())`,
        updated_at: sql<Date>`now()`,
      }))
      .where("id", "=", id)
      .where("status", "in", ["queued", "running"])
      .returning(COLUMNS)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /**
   * Records the apportioned hours as one issue command per hourly certificate (through `issue`,
   * in this transaction) and marks the conversion persisted; the book gets each hour once the
   * registry committed its issue.
   */
  async persist(id: string, quantitiesWh: ArrayLike<number>, issue: HourlyIssuer): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const conversion = await trx
        .selectFrom("conversions")
        .select(["status", "annual_certificate_id", "hours", "requested_by"])
        .where("id", "=", id)
        .forUpdate()
        .executeTakeFirst();
      if (!conversion || (conversion.status !== "queued" && conversion.status !== "running")) return false;
      const row = await selectCertificates(trx).where("c.certificate_id", "=", conversion.annual_certificate_id).forNoKeyUpdate("c").executeTakeFirstOrThrow();
      const annual = toCertificate(row);
      if (annual.state.kind !== "annual" || annual.state.status !== "cancelled" || annual.conversionId !== null) {
        throw conflict(`certificate ${conversion.annual_certificate_id} is no longer a cancelled, unconverted annual certificate`);
      }
      if (quantitiesWh.length !== conversion.hours) throw new Error(`expected ${conversion.hours} hours, got ${quantitiesWh.length}`);
      const start = Date.parse(annual.state.periodStart);
      const hours: HourlyIssue[] = Array.from({ length: conversion.hours }, (_, hour) => ({
        hour,
        state: {
          certificateId: hourlyCertificateId(annual.state.certificateId, hour),
          kind: "hourly",
          deviceId: annual.state.deviceId,
          gridArea: annual.state.gridArea,
          energySource: annual.state.energySource,
          periodStart: new Date(start + hour * HOUR_MS).toISOString(),
          periodEnd: new Date(start + (hour + 1) * HOUR_MS).toISOString(),
          quantityWh: quantitiesWh[hour]!,
          owner: annual.state.owner,
          status: "active",
          parentCertificateId: annual.state.certificateId,
          version: 1,
        },
      }));
      await issue(trx, id, hours, conversion.requested_by);
      await trx.updateTable("registry_certificates").set({ conversion_id: id, updated_at: sql<Date>`now()` }).where("certificate_id", "=", conversion.annual_certificate_id).execute();
      await trx
        .updateTable("conversions")
        .set({ status: "persisted", hours_persisted: conversion.hours, persisted_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
        .where("id", "=", id)
        .execute();
      return true;
    });
  }

  /** How far the registry got with a conversion's hourly issue commands. */
  async issueProgress(id: string): Promise<{ committed: number; failed: number; firstError: string | null }> {
    const row = await this.db
      .selectFrom("registry_commands")
      .select((eb) => [
        eb.fn.count<number>("id").filterWhere("state", "=", "committed").as("committed"),
        eb.fn.count<number>("id").filterWhere("state", "=", "failed").as("failed"),
        eb.fn.min("error").as("firstError"),
      ])
      .where("parent_id", "=", id)
      .executeTakeFirstOrThrow();
    return { committed: Number(row.committed), failed: Number(row.failed), firstError: (row.firstError as string | null) ?? null };
  }

  async recordPublished(id: string, hoursPublished: number): Promise<void> {
    await this.db
      .updateTable("conversions")
      .set({ hours_published: hoursPublished, updated_at: sql<Date>`now()` })
      .where("id", "=", id)
      .where("hours_published", "<", hoursPublished)
      .execute();
  }

  async finish(id: string, converted: Notification, validation: unknown): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const conversion = await trx
        .selectFrom("conversions")
        .select(["status", "annual_certificate_id", "hours"])
        .where("id", "=", id)
        .forUpdate()
        .executeTakeFirst();
      if (!conversion || conversion.status !== "persisted") return;
      await trx
        .updateTable("registry_certificates")
        .set({ converted_at: converted.time })
        .where("certificate_id", "=", conversion.annual_certificate_id)
        .execute();
      await enqueueNotifications(trx, [converted]);
      await trx
        .updateTable("conversions")
        .set({
          status: "done",
          hours_published: conversion.hours,
          validation: JSON.stringify(validation),
          finished_at: converted.time,
          updated_at: sql<Date>`now()`,
        })
        .where("id", "=", id)
        .execute();
    });
  }

  async fail(id: string, error: string): Promise<void> {
    await this.db
      .updateTable("conversions")
      .set({ status: "failed", error, finished_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
      .where("id", "=", id)
      .where("status", "in", ["queued", "running", "persisted"])
      .execute();
  }
}
