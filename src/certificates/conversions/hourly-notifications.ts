import type { CertificateState } from "../../core/notifications/certificate.js";
import type { Notification } from "../../core/notifications/envelope.js";
import { REGISTRY_SOURCE_NAME } from "../book/envelopes.js";
import { changeNotificationId, hourlyCertificateId } from "../book/ids.js";
import { HOUR_MS } from "./hours.js";

/** A run of consecutive hours of one conversion, to publish as `certificate.issued`. */
export interface HourlyRun {
  /** The annual certificate as it was when converted. */
  annual: CertificateState;
  conversionId: string;
  /** When the hours were persisted: the same on every attempt, so a republished envelope is identical. */
  time: string;
  sourceVersion: string;
  firstHour: number;
  /** Quantities of hours firstHour, firstHour + 1, ... */
  quantitiesWh: ArrayLike<number>;
}

/**
 * `certificate.issued` for each hour of the run. The conversion is the parent (and the root of
 * the causal chain); ids derive from (hourly certificate, version 1), so a retry repeats them.
 */
export function hourlyIssuedNotifications(run: HourlyRun): Notification[] {
  const { annual, conversionId } = run;
  const start = Date.parse(annual.periodStart);
  const source = { name: REGISTRY_SOURCE_NAME, version: run.sourceVersion };
  const notifications: Notification[] = new Array(run.quantitiesWh.length);
  for (let index = 0; index < run.quantitiesWh.length; index++) {
    const hour = run.firstHour + index;
    const certificateId = hourlyCertificateId(annual.certificateId, hour);
    notifications[index] = {
      id: changeNotificationId(certificateId, 1),
      type: "certificate.issued",
      source,
      time: run.time,
      subject: certificateId,
      parentId: conversionId,
      correlationId: conversionId,
      channel: "internal",
      data: {
        certificateId,
        kind: "hourly",
        deviceId: annual.deviceId,
        gridArea: annual.gridArea,
        energySource: annual.energySource,
        periodStart: new Date(start + hour * HOUR_MS).toISOString(),
        periodEnd: new Date(start + (hour + 1) * HOUR_MS).toISOString(),
        quantityWh: run.quantitiesWh[index]!,
        owner: annual.owner,
        status: "active",
        parentCertificateId: annual.certificateId,
        version: 1,
      },
    };
  }
  return notifications;
}
