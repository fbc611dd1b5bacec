import type { Logger } from "../core/logger.js";
import { CertificateStateSchema, type CertificateState } from "../core/notifications/certificate.js";
import { parseCertificateState } from "../core/notifications/envelope.js";
import type { IngestActivity } from "../core/notifications/ingest-activity.js";
import { isCertificateType } from "../core/notifications/operational.js";
import type { StreamMessage } from "../mom/broker.js";
import type { Lease } from "../mom/cluster/leases.js";
import type { CertificateStateStore, StateChange } from "./read-model/certificate-states.js";

export const PROJECTION_READER = "projection";

const decoder = new TextDecoder();
const MAX_DEFER_MS = 1_000;
const STATE_KEYS = Object.keys(CertificateStateSchema.shape) as Array<keyof CertificateState>;

/**
 * Projects every notification into the certificate read model. Notifications carry the
 * certificate's full state after the change, so projecting is taking that state.
 */
export class Projection {
  /** Since when the projection has been giving way to ingest without catching up. */
  private behindSince: number | undefined;

  constructor(
    private readonly store: CertificateStateStore,
    private readonly logger: Logger,
    private readonly activity: IngestActivity,
    /** The longest the read model lags behind ingest on purpose, before it catches up regardless. */
    private readonly maxDeferMs = MAX_DEFER_MS,
  ) {}

  async handle(batch: StreamMessage[], lease?: Lease): Promise<void> {
    await this.giveWayToIngest(batch);
    const changes: StateChange[] = [];
    for (const message of batch) {
      const state = this.stateOf(message);
      if (state) changes.push({ seq: message.seq, state });
    }
    await this.store.apply(PROJECTION_READER, batch[batch.length - 1]!.seq, changes, lease);
  }

  /**
   * In a process that also accepts notifications, a batch waits while ingest is busy (the
   * projection's reading, parsing and statements share the thread and the cores with it), for up
   * to `maxDeferMs` since the projection was last caught up; then it catches up regardless. Waiting
   * holds the reader, so the stream keeps what is not yet read: nothing is lost, only later.
   */
  private async giveWayToIngest(batch: StreamMessage[]): Promise<void> {
    const now = performance.now();
    if (batch[batch.length - 1]!.seq >= this.activity.highestSequence() || !this.activity.busy(now)) {
      this.behindSince = undefined;
      return;
    }
    this.behindSince ??= now;
    const left = this.behindSince + this.maxDeferMs - now;
    if (left > 0) await this.activity.whenIdle(left);
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
