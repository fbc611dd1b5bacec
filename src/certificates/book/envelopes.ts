import type { CertificateState } from "../../core/notifications/certificate.js";
import type { Notification, NotificationData, NotificationType } from "../../core/notifications/envelope.js";
import { changeNotificationId } from "./ids.js";

/** `source.name` of every notification the registry makes. */
export const REGISTRY_SOURCE_NAME = "certflow-registry";

export interface RegistryChange {
  type: Exclude<NotificationType, "certificate.snapshot">;
  /** The certificate's full state after the change. */
  state: CertificateState;
  /** Type-specific fields beside the state, e.g. `previousOwner`. */
  extras?: Record<string, unknown>;
  time: Date;
  /** The command that caused the change (a conversion or a trade), which roots its causal chain. */
  causeId?: string | null;
}

/**
 * The notification for a change: its id is derived from (certificate, version), so building it
 * again after a crash gives the same envelope and publishing it again is a recognised duplicate.
 */
export function registryNotification(change: RegistryChange, sourceVersion: string): Notification {
  const id = changeNotificationId(change.state.certificateId, change.state.version);
  const causeId = change.causeId ?? null;
  return {
    id,
    type: change.type,
    source: { name: REGISTRY_SOURCE_NAME, version: sourceVersion },
    time: change.time.toISOString(),
    subject: change.state.certificateId,
    parentId: causeId,
    correlationId: causeId ?? id,
    channel: "internal",
    data: { ...change.state, ...change.extras } as NotificationData,
  };
}

/** A certificate state as the notification schemas want it: no `parentCertificateId` key on annual ones. */
export function certificateState(fields: {
  certificateId: string;
  kind: "annual" | "hourly";
  deviceId: string;
  gridArea: string;
  energySource: string;
  periodStart: Date;
  periodEnd: Date;
  quantityWh: number;
  owner: string;
  status: string;
  parentCertificateId: string | null;
  version: number;
}): CertificateState {
  return {
    certificateId: fields.certificateId,
    kind: fields.kind,
    deviceId: fields.deviceId,
    gridArea: fields.gridArea,
    energySource: fields.energySource,
    periodStart: fields.periodStart.toISOString(),
    periodEnd: fields.periodEnd.toISOString(),
    quantityWh: fields.quantityWh,
    owner: fields.owner,
    status: fields.status as CertificateState["status"],
    ...(fields.parentCertificateId !== null ? { parentCertificateId: fields.parentCertificateId } : {}),
    version: fields.version,
  };
}
