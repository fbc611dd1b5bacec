import { notFound } from "../../core/errors.js";
import type { CertificateFilter, CertificateRecord, CertificateStore } from "./registry-store.js";
import { validateAnnual, validateHourly, type ValidationReport } from "./validation.js";

/**
 * The book: certflow's own record of the certificates, which answers questions about them. It
 * changes only when the registry has committed a command (see apply-command.ts).
 */
export class CertificateBook {
  constructor(private readonly store: CertificateStore) {}

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
}
