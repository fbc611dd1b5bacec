import type { CommandRecord } from "./command-log.js";

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function presentCommand(command: CommandRecord) {
  return {
    commandId: command.id,
    id: command.id,
    certificateId: command.certificateId,
    type: command.type,
    state: command.state,
    txId: command.txId,
    statuses: command.statuses,
    error: command.error,
    sendAttempts: command.sendAttempts,
    sendOutcome: command.sendOutcome,
    parentId: command.parentId,
    correlationId: command.correlationId,
    sagaId: command.sagaId,
    intent: command.intent,
    requestedBy: command.requestedBy,
    acceptedAt: command.acceptedAt.toISOString(),
    sentAt: iso(command.sentAt),
    deadlineAt: iso(command.deadlineAt),
    finishedAt: iso(command.finishedAt),
    trace: { notificationId: command.id, href: `/v1/notifications/${command.id}/trace` },
  };
}

export interface Preferences {
  waitSeconds: number;
  noQueue: boolean;
}

/** `Prefer: wait=N, no-queue` (RFC 7240); unknown preferences are ignored, as the RFC says. */
export function parsePrefer(header: string | undefined): Preferences {
  const preferences: Preferences = { waitSeconds: 0, noQueue: false };
  for (const part of (header ?? "").split(",")) {
    const [name, value] = part.trim().split("=").map((piece) => piece.trim().toLowerCase());
    if (name === "wait" && value !== undefined && /^\d+$/.test(value)) preferences.waitSeconds = Math.min(60, Number(value));
    if (name === "no-queue") preferences.noQueue = true;
  }
  return preferences;
}
