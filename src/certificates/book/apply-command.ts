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
 * Applies commands the registry committed to the book, in the caller's transaction (the one that
 * marks them committed), and returns the certificate notifications to put in the same outbox
 * commit, in command order. `causeIds[i]` (command i's committed event) is the parent of its
 * notifications. Nothing else changes the book's certificates after registration, so the book
 * follows the registry step for step. A connector poll round commits by the hundred, so the
 * book is read once and written once per kind of change.
 */
export async function applyCommitted(
  trx: Executor,
  commands: readonly CommittedCommand[],
  causeIds: readonly string[],
  time: Date,
  sourceVersion: string,
): Promise<Notification[]> {
  const byIndex: Notification[][] = commands.map(() => []);
  const issues = commands.flatMap((command, index) => (command.type === "issue" ? [index] : []));
  const issued = await applyIssues(trx, issues.map((index) => commands[index]!), issues.map((index) => causeIds[index]!), time, sourceVersion);
  issues.forEach((index, position) => byIndex[index]!.push(issued[position]!));

  const changes = commands.flatMap((command, index) => (command.type === "issue" ? [] : [index]));
  if (changes.length > 0) {
    const ids = [...new Set(changes.map((index) => commands[index]!.certificateId))];
    const rows = await selectCertificates(trx).where("c.certificate_id", "in", ids).forNoKeyUpdate("c").execute();
    const book = new Map(rows.map((row) => [row.certificate_id, toRecord(row)]));
    const changed = new Map<string, CertificateState>();
    const slices: Array<ReturnType<typeof certificateRow>> = [];
    for (const index of changes) {
      const command = commands[index]!;
      const current = book.get(command.certificateId);
      if (!current) throw new Error(`certificate ${command.certificateId} is not in the book, yet the registry committed ${command.type} on it`);
      const change = nextState(current.state, command);
      const note = (type: Exclude<NotificationType, "certificate.snapshot">, state: CertificateState, extras?: Record<string, unknown>) => ({
        ...registryNotification({ type, state, time, causeId: causeIds[index]!, ...(extras ? { extras } : {}) }, sourceVersion),
        correlationId: command.correlationId,
      });
      byIndex[index]!.push(note(change.type, change.next, change.extras));
      for (const part of change.parts) {
        const state: CertificateState = { ...current.state, certificateId: part.certificateId, quantityWh: part.quantityWh, owner: part.owner, status: "active", version: 1 };
        slices.push(certificateRow(state, current.registeredBy, current.state.certificateId, current.hour, current.conversionId));
        byIndex[index]!.push(note("certificate.issued", state));
      }
      book.set(command.certificateId, { ...current, state: change.next });
      changed.set(command.certificateId, change.next);
    }
    if (slices.length > 0) await trx.insertInto("registry_certificates").values(slices).execute();
    const states = [...changed.values()];
    await sql`
      UPDATE registry_certificates c SET owner = u.owner, status = u.status, version = u.version, updated_at = ${time}
      FROM unnest(${states.map((state) => state.certificateId)}::text[], ${states.map((state) => state.owner)}::text[],
                  ${states.map((state) => state.status)}::text[], ${states.map((state) => state.version)}::int[]) AS u(id, owner, status, version)
      WHERE c.certificate_id = u.id`.execute(trx);
  }
  return byIndex.flat();
}

interface Change {
  type: "certificate.transferred" | "certificate.cancelled" | "certificate.claimed" | "certificate.withdrawn" | "certificate.sliced";
  next: CertificateState;
  extras?: Record<string, unknown> | undefined;
  /** The certificates a slice issues. */
  parts: SlicePart[];
}

/** What a committed command (other than an issue) makes of a certificate: its next state and the notification that says so. */
function nextState(current: CertificateState, command: CommittedCommand): Change {
  const next: CertificateState = { ...current, version: current.version + 1 };
  switch (command.type) {
    case "transfer": {
      const intent = command.intent as { to: string; tradeId?: string };
      next.owner = intent.to;
      return { type: "certificate.transferred", next, extras: { previousOwner: current.owner, ...(intent.tradeId ? { tradeId: intent.tradeId } : {}) }, parts: [] };
    }
    case "cancel": {
      const intent = command.intent as { reason?: string };
      next.status = "cancelled";
      return { type: "certificate.cancelled", next, extras: intent.reason === undefined ? undefined : { reason: intent.reason }, parts: [] };
    }
    case "claim":
      next.status = "claimed";
      return { type: "certificate.claimed", next, extras: { beneficiary: (command.intent as { beneficiary: string }).beneficiary }, parts: [] };
    case "withdraw": {
      const intent = command.intent as { reason?: string };
      next.status = "withdrawn";
      return { type: "certificate.withdrawn", next, extras: intent.reason === undefined ? undefined : { reason: intent.reason }, parts: [] };
    }
    case "slice": {
      const parts = (command.intent as { parts: SlicePart[] }).parts;
      next.status = "cancelled";
      return { type: "certificate.sliced", next, extras: { slices: parts.map((part) => ({ certificateId: part.certificateId, quantityWh: part.quantityWh })) }, parts };
    }
    case "issue":
      throw new Error("an issue is applied by applyIssues");
  }
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
