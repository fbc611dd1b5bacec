import { AppError, conflict, notFound } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { CertificateState } from "../../core/notifications/certificate.js";
import type { Broker } from "../../mom/broker.js";
import type { RetentionHorizons } from "../../mom/retention/retention.js";
import type { SlicePart } from "../book/apply-command.js";
import { HOURLY_ID_SUFFIX, MAX_ANNUAL_ID_LENGTH } from "../book/ids.js";
import type { OutboxRelay } from "../book/outbox.js";
import type { CertificateRecord } from "../book/registry-store.js";
import type { HourlyIssuer } from "../conversions/conversion-store.js";
import { yearPeriod } from "../conversions/hours.js";
import { removedByRetention } from "./retention.js";
import { TERMINAL_STATES, type CommandContext, type CommandFilter, type CommandLog, type CommandPlan, type CommandRecord } from "./command-log.js";

export interface AnnualRegistration {
  id?: string | undefined;
  deviceId: string;
  gridArea: string;
  energySource: string;
  year: number;
  quantityWh: number;
  owner: string;
}

export interface CommandOptions {
  requestedBy: string;
  /** Refuse (409) instead of queueing behind a command already on the certificate. */
  noQueue?: boolean | undefined;
  parentId?: string | null | undefined;
  correlationId?: string | undefined;
}

export type Registration =
  | { kind: "accepted"; command: CommandRecord; created: boolean }
  | { kind: "registered"; certificate: CertificateRecord };

const VERBS: Record<string, string> = { slice: "sliced", cancel: "cancelled", claim: "claimed", withdraw: "withdrawn", issue: "issued", transfer: "transferred" };

/**
 * Checks that a command may join a certificate's queue, against the book and the commands
 * already on it: the certificate exists and is settled, is active, and is not about to be used up
 * (a slice, cancel, claim or withdrawal ahead of it reserves it whole). Returns the owner it
 * will have when this command's turn comes and the version the registry will then be at.
 */
export function checkCommandable(certificateId: string, context: CommandContext, noQueue: boolean): { certificate: CertificateRecord; owner: string; expectedVersion: number } {
  const { certificate, pending } = context;
  if (!certificate) {
    const issuing = pending.find((command) => command.type === "issue");
    if (issuing) throw conflict(`certificate ${certificateId} is still being issued (command ${issuing.id}); retry when it has committed`);
    throw notFound(`certificate ${certificateId}`);
  }
  if (!certificate.settled) {
    throw conflict(`certificate ${certificateId} is still being issued by conversion ${certificate.conversionId}; retry when it is done`);
  }
  if (noQueue && pending.length > 0) {
    throw conflict(`certificate ${certificateId} has command ${pending[0]!.id} in flight (${pending[0]!.state}); retry later, or send without "Prefer: no-queue" to queue behind it`);
  }
  const consuming = pending.find((command) => command.type !== "transfer");
  if (consuming) throw conflict(`certificate ${certificateId} is being ${VERBS[consuming.type]} by command ${consuming.id}; no command can follow it`);
  if (certificate.state.status !== "active") throw conflict(`certificate ${certificateId} is ${certificate.state.status}; only an active certificate changes`);
  const lastTransfer = pending.filter((command) => command.type === "transfer").at(-1);
  const owner = lastTransfer ? String(lastTransfer.intent.to) : certificate.state.owner;
  return { certificate, owner, expectedVersion: certificate.state.version + pending.length };
}

/**
 * The commands API's use cases: every change of a certificate is a command, accepted into the
 * command log (bytes, transaction id, quantity reserved) and carried to the registry by the
 * connector; the book changes only once the registry has committed it.
 */
export class Commands {
  constructor(
    private readonly log: CommandLog,
    private readonly broker: Pick<Broker, "requestCommandSend">,
    private readonly relay: OutboxRelay,
    /** Where retention notes what it removed; without it (a bench), a missing command is only not found. */
    private readonly horizons?: RetentionHorizons,
  ) {}

  async register(input: AnnualRegistration, options: CommandOptions): Promise<Registration> {
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
    let outcome: Registration | undefined;
    const accepted = await this.log.accept([id], (contexts) => {
      const { certificate, pending } = contexts.get(id)!;
      if (certificate) {
        if (!sameRegistration(certificate.state, certificate.initialOwner, state)) throw conflict(`certificate ${id} exists with other values; choose another id`);
        outcome = { kind: "registered", certificate };
        return [];
      }
      const issuing = pending.find((command) => command.type === "issue");
      if (issuing) {
        const issued = (issuing.intent as { state: CertificateState }).state;
        if (!sameRegistration(issued, issued.owner, state)) throw conflict(`certificate ${id} is being registered with other values (command ${issuing.id})`);
        outcome = { kind: "accepted", command: issuing, created: false };
        return [];
      }
      return [this.plan(id, "issue", { ...state }, { state, registeredBy: options.requestedBy }, undefined, options)];
    });
    if (outcome) return outcome;
    this.accepted();
    return { kind: "accepted", command: accepted[0]!, created: true };
  }

  cancel(certificateId: string, reason: string | undefined, options: CommandOptions): Promise<CommandRecord> {
    return this.single(certificateId, "cancel", options, () => ({ payload: {}, intent: reason === undefined ? {} : { reason } }));
  }

  transfer(certificateId: string, to: string, options: CommandOptions): Promise<CommandRecord> {
    return this.single(certificateId, "transfer", options, (_certificate, owner) => {
      if (owner === to) throw conflict(`certificate ${certificateId} already belongs to ${to}`);
      return { payload: { to }, intent: { to } };
    });
  }

  claim(certificateId: string, beneficiary: string, options: CommandOptions): Promise<CommandRecord> {
    return this.single(certificateId, "claim", options, () => ({ payload: { beneficiary }, intent: { beneficiary } }));
  }

  withdraw(certificateId: string, reason: string, options: CommandOptions): Promise<CommandRecord> {
    return this.single(certificateId, "withdraw", options, () => ({ payload: { reason }, intent: { reason } }));
  }

  /** Splits a certificate into parts `<id>-s1`, `<id>-s2`, ... whose quantities sum to its own exactly. */
  slice(certificateId: string, parts: ReadonlyArray<{ quantityWh: number; owner?: string | undefined }>, options: CommandOptions): Promise<CommandRecord> {
    return this.single(certificateId, "slice", options, (certificate, owner) => {
      const sum = parts.reduce((total, part) => total + part.quantityWh, 0);
      if (sum !== certificate.state.quantityWh) {
        throw new AppError("validation_failed", `parts: sum to ${sum} Wh, certificate ${certificateId} holds ${certificate.state.quantityWh} Wh; they must sum to it exactly`, [
          { path: "parts", message: `sum to ${sum} Wh, not ${certificate.state.quantityWh} Wh` },
        ]);
      }
      const sliced: SlicePart[] = parts.map((part, index) => ({ certificateId: `${certificateId}-s${index + 1}`, quantityWh: part.quantityWh, owner: part.owner ?? owner }));
      return { payload: { parts: sliced }, intent: { parts: sliced } };
    });
  }

  async get(id: string): Promise<CommandRecord> {
    const command = await this.log.find(id);
    if (command) return command;
    const removedBefore = this.horizons && (await removedByRetention(this.horizons, id));
    if (removedBefore) {
      throw new AppError("gone", `command ${id} is past retention: finished commands accepted before ${removedBefore.toISOString()} are removed (CERTFLOW_RETENTION_COMMANDS)`);
    }
    throw notFound(`command ${id}`);
  }

  list(filter: CommandFilter, limit: number, afterSeq?: number): Promise<CommandRecord[]> {
    return this.log.list(filter, limit, afterSeq);
  }

  /** Waits up to `seconds` for a command to end (committed or failed); returns it as it then is. */
  async waitFor(id: string, seconds: number): Promise<CommandRecord> {
    const deadline = Date.now() + seconds * 1000;
    for (let pause = 20; ; pause = Math.min(250, pause * 2)) {
      const command = await this.get(id);
      if (TERMINAL_STATES.includes(command.state) || Date.now() >= deadline) return command;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(1, deadline - Date.now()))));
    }
  }

  /** A conversion's hours: one issue command each, the conversion their parent and correlation root. */
  readonly issueHours: HourlyIssuer = async (trx, conversionId, hours, requestedBy) => {
    const plans = hours.map(({ hour, state }) =>
      this.plan(state.certificateId, "issue", { ...state }, { state, registeredBy: requestedBy, hour, conversionId }, undefined, {
        requestedBy,
        parentId: conversionId,
        correlationId: conversionId,
      }),
    );
    await this.log.insert(trx, plans);
  };

  /** Wakes the connector and publishes the accepted events. */
  accepted(): void {
    this.broker.requestCommandSend();
    void this.relay.flushQuietly();
  }

  plan(
    certificateId: string,
    type: CommandPlan["type"],
    payload: Record<string, unknown>,
    intent: Record<string, unknown>,
    expectedVersion: number | undefined,
    options: CommandOptions,
    saga?: { sagaId: string; sagaRole: "forward" | "compensation" },
  ): CommandPlan {
    const id = uuidv7();
    return {
      id,
      type,
      certificateId,
      payload,
      expectedVersion,
      intent,
      parentId: options.parentId ?? null,
      correlationId: options.correlationId ?? id,
      requestedBy: options.requestedBy,
      ...(saga ?? {}),
    };
  }

  private async single(
    certificateId: string,
    type: CommandPlan["type"],
    options: CommandOptions,
    build: (certificate: CertificateRecord, owner: string) => { payload: Record<string, unknown>; intent: Record<string, unknown> },
  ): Promise<CommandRecord> {
    const [command] = await this.log.accept([certificateId], (contexts) => {
      const { certificate, owner, expectedVersion } = checkCommandable(certificateId, contexts.get(certificateId)!, options.noQueue ?? false);
      const { payload, intent } = build(certificate, owner);
      return [this.plan(certificateId, type, payload, intent, expectedVersion, options)];
    });
    this.accepted();
    return command!;
  }
}

function sameRegistration(existing: CertificateState, existingInitialOwner: string, wanted: CertificateState): boolean {
  return (
    existing.kind === "annual" &&
    existing.deviceId === wanted.deviceId &&
    existing.gridArea === wanted.gridArea &&
    existing.energySource === wanted.energySource &&
    existing.periodStart === wanted.periodStart &&
    existing.quantityWh === wanted.quantityWh &&
    existingInitialOwner === wanted.owner
  );
}
