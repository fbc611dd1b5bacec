import { AppError, conflict, notFound } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { CertificateState } from "../../core/notifications/certificate.js";
import { yearPeriod } from "../conversions/hours.js";
import { registryNotification } from "./envelopes.js";
import { HOURLY_ID_SUFFIX, MAX_ANNUAL_ID_LENGTH } from "./ids.js";
import type { OutboxRelay } from "./outbox.js";
import type { CertificateFilter, CertificateRecord, CertificateStore } from "./registry-store.js";
import { validateAnnual, validateHourly, type ValidationReport } from "./validation.js";

export interface AnnualRegistration {
  id?: string | undefined;
  deviceId: string;
  gridArea: string;
  energySource: string;
  year: number;
  quantityWh: number;
  owner: string;
}

/**
 * The certificate registry: registers annual certificates, cancels certificates, and answers
 * questions about them. Every change bumps the version and commits its notification with it.
 */
export class CertificateBook {
  constructor(
    private readonly store: CertificateStore,
    private readonly relay: OutboxRelay,
    private readonly sourceVersion: string,
  ) {}

  /** Registers an annual certificate; the same registration again returns it unchanged (`created: false`). */
  async registerAnnual(input: AnnualRegistration, registeredBy: string): Promise<{ created: boolean; certificate: CertificateRecord }> {
    const id = input.id ?? uuidv7();
    if (id.length > MAX_ANNUAL_ID_LENGTH) {
      throw new AppError("validation_failed", `id: must be at most ${MAX_ANNUAL_ID_LENGTH} characters, so that its hourly certificates' ids fit`, [
        { path: "id", message: `must be at most ${MAX_ANNUAL_ID_LENGTH} characters` },
      ]);
    }
    if (HOURLY_ID_SUFFIX.test(id)) {
      throw new AppError("validation_failed", "id: ids ending in -h and four digits are reserved for hourly certificates", [
        { path: "id", message: "ends like an hourly certificate's id (-hNNNN)" },
      ]);
    }
    const period = yearPeriod(input.year);
    const state: CertificateState = {
      certificateId: id,
      kind: "annual",
      deviceId: input.deviceId,
      gridArea: input.gridArea,
      energySource: input.energySource,
      periodStart: period.start.toISOString(),
      periodEnd: period.end.toISOString(),
      quantityWh: input.quantityWh,
      owner: input.owner,
      status: "active",
      version: 1,
    };
    const notification = registryNotification({ type: "certificate.issued", state, time: new Date() }, this.sourceVersion);
    const { created, record } = await this.store.insert({ state, registeredBy }, notification);
    if (!created) {
      const same =
        record.state.kind === "annual" &&
        record.state.deviceId === state.deviceId &&
        record.state.gridArea === state.gridArea &&
        record.state.energySource === state.energySource &&
        record.state.periodStart === state.periodStart &&
        record.state.quantityWh === state.quantityWh &&
        record.initialOwner === state.owner;
      if (!same) throw conflict(`certificate ${id} exists with other values; choose another id`);
      return { created: false, certificate: record };
    }
    await this.relay.flushQuietly();
    return { created: true, certificate: record };
  }

  /** Cancels an active certificate (an annual one must be cancelled before it converts). */
  async cancel(id: string, reason: string | undefined): Promise<CertificateRecord> {
    const record = await this.store.change(id, (current) => {
      if (current.state.status !== "active") {
        throw conflict(`certificate ${id} is ${current.state.status}; only an active certificate can be cancelled`);
      }
      if (current.state.kind === "hourly") this.requireSettled(current);
      const next: CertificateState = { ...current.state, status: "cancelled", version: current.state.version + 1 };
      const extras = reason === undefined ? {} : { reason };
      return { next, notification: registryNotification({ type: "certificate.cancelled", state: next, extras, time: new Date() }, this.sourceVersion) };
    });
    await this.relay.flushQuietly();
    return record;
  }

  async get(id: string): Promise<CertificateRecord> {
    const record = await this.store.find(id);
    if (!record) throw notFound(`certificate ${id}`);
    return record;
  }

  list(filter: CertificateFilter, limit: number, afterId?: string): Promise<CertificateRecord[]> {
    return this.store.list(filter, limit, afterId);
  }

  async validate(id: string): Promise<ValidationReport> {
    const record = await this.get(id);
    let checks;
    if (record.state.kind === "annual") {
      checks = validateAnnual(record, await this.store.family(id));
    } else {
      const parentId = record.state.parentCertificateId!;
      const parent = await this.store.find(parentId);
      const family = parent ? await this.store.family(parentId) : undefined;
      const sameHour = parent ? await this.store.hoursStartingAt(parentId, new Date(record.state.periodStart)) : 0;
      checks = validateHourly(record, parent, family, sameHour);
    }
    return {
      certificateId: id,
      kind: record.state.kind,
      valid: checks.every((check) => check.result !== "failed"),
      checkedAt: new Date().toISOString(),
      checks,
    };
  }

  /** An hourly certificate changes only once its conversion has published every hour (so its notifications stay in order). */
  private requireSettled(record: CertificateRecord): void {
    if (!record.settled) {
      throw conflict(`certificate ${record.state.certificateId} is still being issued by conversion ${record.conversionId}; retry when it is done`);
    }
  }
}
