import type { Notification, RegistryNotificationType } from "../../core/notifications/envelope.js";
import { REGISTRY_SOURCE_NAME } from "../book/envelopes.js";
import { uuidv5 } from "../book/ids.js";
import type { CommandRecord } from "./command-log.js";

/** The steps of a command's life that are journaled, each with an id derived from (command, step). */
export type CommandStep = "accepted" | "sent" | "committed" | "failed" | "indeterminate" | "resolved";

const STEP_TYPES: Record<CommandStep, RegistryNotificationType> = {
  accepted: "registry.command.accepted",
  sent: "registry.command.sent",
  committed: "registry.transaction.committed",
  failed: "registry.transaction.failed",
  indeterminate: "registry.command.indeterminate",
  resolved: "registry.command.resolved",
};

/**
 * The id of a command's event at a step: the accepted event carries the command's own id (the
 * root of its trace), every later step a name-based id, so a republish after a crash repeats it
 * and the broker's `Nats-Msg-Id` and the journal drop the copy.
 */
export const commandEventId = (commandId: string, step: CommandStep) => (step === "accepted" ? commandId : uuidv5(`${commandId}#${step}`));

export interface StepEvent {
  command: Pick<CommandRecord, "id" | "certificateId" | "type" | "txId" | "parentId" | "correlationId">;
  step: CommandStep;
  /** The event this one follows (the previous step), or the command's cause for `accepted`. */
  parentId: string | null;
  data?: Record<string, unknown>;
  time: Date;
  sourceVersion: string;
}

export function commandEvent(event: StepEvent): Notification {
  const { command } = event;
  return {
    id: commandEventId(command.id, event.step),
    type: STEP_TYPES[event.step],
    source: { name: REGISTRY_SOURCE_NAME, version: event.sourceVersion },
    time: event.time.toISOString(),
    subject: command.certificateId,
    parentId: event.parentId,
    correlationId: command.correlationId,
    channel: "internal",
    data: { certificateId: command.certificateId, commandId: command.id, commandType: command.type, txId: command.txId, ...event.data },
  };
}

export function misalignmentEvent(input: {
  id: string;
  certificateId: string;
  local: unknown;
  registry: unknown;
  detectedBy: string;
  parentId: string | null;
  time: Date;
  sourceVersion: string;
}): Notification {
  return {
    id: input.id,
    type: "registry.misalignment.detected",
    source: { name: REGISTRY_SOURCE_NAME, version: input.sourceVersion },
    time: input.time.toISOString(),
    subject: input.certificateId,
    parentId: input.parentId,
    correlationId: input.parentId ?? input.id,
    channel: "internal",
    data: { certificateId: input.certificateId, local: input.local, registry: input.registry, detectedBy: input.detectedBy },
  };
}
