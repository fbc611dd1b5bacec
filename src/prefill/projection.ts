import type { Logger } from "../core/logger.js";
import { CertificateStateSchema, type CertificateState } from "../core/notifications/certificate.js";
import { parseCertificateState } from "../core/notifications/envelope.js";
import { isCertificateType } from "../core/notifications/operational.js";
import type { StreamMessage } from "../mom/broker.js";
import type { Lease } from "../mom/cluster/leases.js";
import type { CertificateStateStore, StateChange } from "./read-model/certificate-states.js";

export const PROJECTION_READER = "projection";

const decoder = new TextDecoder();
const STATE_KEYS = Object.keys(CertificateStateSchema.shape) as Array<keyof CertificateState>;

/**
 * Projects every notification into the certificate read model. Notifications carry the
 * certificate's full state after the change, so projecting is taking that state.
 */
export class Projection {
  constructor(
    private readonly store: CertificateStateStore,
    private readonly logger: Logger,
  ) {}

  async handle(batch: StreamMessage[], lease?: Lease): Promise<void> {
    const changes: StateChange[] = [];
    for (const message of batch) {
      const state = this.stateOf(message);
      if (state) changes.push({ seq: message.seq, state });
    }
    await this.store.apply(PROJECTION_READER, batch[batch.length - 1]!.seq, changes, lease);
  }

  private stateOf(message: StreamMessage): CertificateState | undefined {
    try {
      const notification = JSON.parse(decoder.decode(message.data)) as { type?: string; data?: Record<string, unknown> };
      // Operational notifications (subscription.*) describe no certificate: nothing to project.
      if (typeof notification.type === "string" && !isCertificateType(notification.type)) return undefined;
      const data = notification.data ?? {};
      const picked: Record<string, unknown> = {};
      for (const key of STATE_KEYS) if (data[key] !== undefined) picked[key] = data[key];
      const parsed = parseCertificateState(picked);
      if (parsed.success) return parsed.data;
      this.logger.error({ seq: message.seq }, "skipping a stream message without a certificate state");
    } catch {
      this.logger.error({ seq: message.seq }, "skipping a stream message that is not JSON");
    }
    return undefined;
  }
}
