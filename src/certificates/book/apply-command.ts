import { sql } from "kysely";
import type { CommandType, Executor } from "../../core/db/schema.js";
import type { CertificateState } from "../../core/notifications/certificate.js";
import type { Notification, NotificationType } from "../../core/notifications/envelope.js";
import { registryNotification } from "./envelopes.js";
import { selectCertificates, toRecord } from "./registry-store.js";

/** A command the registry committed, as the book needs it. */
export interface CommittedCommand {
  id: string;
  type: CommandType;
  certificateId: string;
  intent: Record<string, unknown>;
  /** The root of the command's causal chain, kept by every event it causes. */
  correlationId: string;
}

export interface SlicePart {
  certificateId: string;
  quantityWh: number;
  owner: string;
}

/**
 * Applies a committed command to the book, in the caller's transaction (the one that marks the
 * command committed), and returns the certificate notifications to put in the same outbox
 * commit. `causeId` (the committed event) is their parent. Nothing else changes the book's
 * certificates after registration, so the book follows the registry step for step.
 */
export async function applyCommitted(
  trx: Executor,
  command: CommittedCommand,
  causeId: string,
  time: Date,
  sourceVersion: string,
): Promise<Notification[]> {
  const note = (type: Exclude<NotificationType, "certificate.snapshot">, state: CertificateState, extras?: Record<string, unknown>) =>
    ({ ...registryNotification({ type, state, time, causeId, ...(extras ? { extras } : {}) }, sourceVersion), correlationId: command.correlationId });

  if (command.type === "issue") return applyIssues(trx, [command], [causeId], time, sourceVersion);

  const row = await selectCertificates(trx).where("c.certificate_id", "=", command.certificateId).forNoKeyUpdate("c").executeTakeFirst();
  if (!row) throw new Error(`certificate ${command.certificateId} is not in the book, yet the registry committed ${command.type} on it`);
  const current = toRecord(row);
  const next: CertificateState = { ...current.state, version: current.state.version + 1 };
  const notifications: Notification[] = [];
  switch (command.type) {
    case "transfer": {
      const intent = command.intent as { to: string; tradeId?: string };
      next.owner = intent.to;
      notifications.push(note("certificate.transferred", next, { previousOwner: current.state.owner, ...(intent.tradeId ? { tradeId: intent.tradeId } : {}) }));
      break;
    }
    case "cancel": {
      const intent = command.intent as { reason?: string };
      next.status = "cancelled";
      notifications.push(note("certificate.cancelled", next, intent.reason === undefined ? undefined : { reason: intent.reason }));
      break;
    }
    case "claim": {
      next.status = "claimed";
      notifications.push(note("certificate.claimed", next, { beneficiary: (command.intent as { beneficiary: string }).beneficiary }));
      break;
    }
    case "withdraw": {
      const intent = command.intent as { reason?: string };
      next.status = "withdrawn";
      notifications.push(note("certificate.withdrawn", next, intent.reason === undefined ? undefined : { reason: intent.reason }));
      break;
    }
    case "slice": {
      const parts = (command.intent as { parts: SlicePart[] }).parts;
      next.status = "cancelled";
      notifications.push(note("certificate.sliced", next, { slices: parts.map((part) => ({ certificateId: part.certificateId, quantityWh: part.quantityWh })) }));
      for (const part of parts) {
        const state: CertificateState = { ...current.state, certificateId: part.certificateId, quantityWh: part.quantityWh, owner: part.owner, status: "active", version: 1 };
        await insertCertificate(trx, state, current.registeredBy, current.state.certificateId, current.hour, current.conversionId);
        notifications.push(note("certificate.issued", state));
      }
      break;
    }
  }
  await trx
    .updateTable("registry_certificates")
    .set({ owner: next.owner, status: next.status, version: next.version, updated_at: time })
    .where("certificate_id", "=", command.certificateId)
    .execute();
  return notifications;
}

/** Issues in bulk (a conversion's hours come by the thousand): one insert, one notification each. */
export async function applyIssues(
  trx: Executor,
  commands: readonly CommittedCommand[],
  causeIds: readonly string[],
  time: Date,
  sourceVersion: string,
): Promise<Notification[]> {
  if (commands.length === 0) return [];
  const intents = commands.map((command) => command.intent as { state: CertificateState; registeredBy: string; hour?: number; conversionId?: string });
  for (let offset = 0; offset < intents.length; offset += 1000) {
    await trx
      .insertInto("registry_certificates")
      .values(intents.slice(offset, offset + 1000).map((intent) => certificateRow(intent.state, intent.registeredBy, null, intent.hour ?? null, intent.conversionId ?? null)))
      .execute();
  }
  return intents.map((intent, index) => ({
    ...registryNotification({ type: "certificate.issued", state: intent.state, time, causeId: causeIds[index]! }, sourceVersion),
    correlationId: commands[index]!.correlationId,
  }));
}

async function insertCertificate(
  trx: Executor,
  state: CertificateState,
  registeredBy: string,
  slicedFrom: string | null,
  hour: number | null,
  conversionId: string | null,
): Promise<void> {
  await trx.insertInto("registry_certificates").values(certificateRow(state, registeredBy, slicedFrom, hour, conversionId)).execute();
}

function certificateRow(state: CertificateState, registeredBy: string, slicedFrom: string | null, hour: number | null, conversionId: string | null) {
  return {
      certificate_id: state.certificateId,
      kind: state.kind,
      device_id: state.deviceId,
      grid_area: state.gridArea,
      energy_source: state.energySource,
      period_start: state.periodStart,
      period_end: state.periodEnd,
      quantity_wh: state.quantityWh,
      owner: state.owner,
      initial_owner: state.owner,
      status: state.status,
      parent_certificate_id: state.parentCertificateId ?? null,
      hour_index: hour,
      version: state.version,
      conversion_id: conversionId,
      converted_at: null,
      registered_by: registeredBy,
      sliced_from: slicedFrom,
  };
}

/** The book's view of a certificate for comparison with the registry. */
export async function bookFacts(executor: Executor, certificateIds: readonly string[]) {
  if (certificateIds.length === 0) return [];
  return executor
    .selectFrom("registry_certificates")
    .select(["certificate_id", "owner", "status", "version", "quantity_wh"])
    .where(sql<boolean>`certificate_id = ANY(${certificateIds}::text[])`)
    .execute();
}
