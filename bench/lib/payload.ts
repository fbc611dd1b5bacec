import { uuidv7 } from "../../src/core/ids.js";
import type { Notification } from "../../src/core/notifications/envelope.js";

/**
 * What a producer posts: a `certificate.issued` with the certificate's full state. Every
 * notification of a run gets its own subject (certificate id), so certflow's per-subject
 * ordering never holds one back behind another: the figures measure throughput, not ordering.
 */
export function notificationInput(subject: string, index: number, withId = false) {
  return {
    ...(withId ? { id: uuidv7() } : {}),
    type: "certificate.issued" as const,
    subject,
    data: {
      certificateId: subject,
      kind: "annual" as const,
      deviceId: `device-${index % 997}`,
      gridArea: index % 2 ? "DK1" : "DK2",
      energySource: "wind",
      periodStart: "2025-01-01T00:00:00.000Z",
      periodEnd: "2026-01-01T00:00:00.000Z",
      quantityWh: 1_000_000 + index,
      owner: `owner-${index % 101}`,
      status: "active" as const,
      version: 1,
    },
  };
}

export type NotificationInput = ReturnType<typeof notificationInput>;

/**
 * The envelope certflow would store for an input (same fields, same order, so the same JSON
 * size): what the raw JetStream baselines publish, with the id as msgID.
 */
export function envelopeOf(input: NotificationInput, producerName: string): Notification {
  const id = uuidv7();
  return {
    id,
    type: input.type,
    source: { name: producerName, version: "1" },
    time: new Date().toISOString(),
    subject: input.subject,
    parentId: null,
    correlationId: id,
    channel: "http",
    data: input.data,
  };
}

/** Subjects of one run: `${prefix}-${index}`, unique across runs by the prefix. */
export const subjectOf = (prefix: string, index: number) => `${prefix}-${index}`;

/** `count` notifications of one run, each with its own subject. */
export function makeInputs(prefix: string, count: number): NotificationInput[] {
  return Array.from({ length: count }, (_, index) => notificationInput(subjectOf(prefix, index), index));
}
