import type { StoredNotification } from "../../../core/notifications/envelope.js";

export type PushFormat = "envelope" | "cloudevents";

export interface PushBody {
  contentType: string;
  body: string;
}

/**
 * The request body: the envelope as stored (byte for byte), or a structured CloudEvent 1.0
 * whose extensions carry the traceability fields.
 */
export function pushBody(format: PushFormat, notificationJson: string): PushBody {
  if (format === "envelope") return { contentType: "application/json", body: notificationJson };
  const notification = JSON.parse(notificationJson) as StoredNotification;
  const event = {
    specversion: "1.0",
    id: notification.id,
    type: notification.type,
    source: `/certflow/sources/${encodeURIComponent(notification.source.name)}`,
    time: notification.time,
    subject: notification.subject,
    datacontenttype: "application/json",
    data: notification.data,
    correlationid: notification.correlationId,
    ...(notification.parentId ? { parentid: notification.parentId } : {}),
    channel: notification.channel,
    sourceversion: notification.source.version,
  };
  return { contentType: "application/cloudevents+json", body: JSON.stringify(event) };
}
