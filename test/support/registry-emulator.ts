/**
 * Test helper: an emulated registry (src/registry-emulator) in this process, on a free port.
 *
 *   const registry = await startRegistryEmulator({ faults: { dedupe: "txId" }, token: "wire-token" });
 *   registry.url                        // wire base URL: give it to CERTFLOW_REGISTRY_URL
 *   registry.controlUrl                 // control API only, reachable even while `unavailable: "refuse"`
 *   registry.setFaults({ unavailable: "refuse" })   // any knob of PUT /_emulator/faults; others keep their value
 *   registry.setFaults({ certificates: { "C-1": { stuckPending: true } } })   // per certificate (null removes)
 *   registry.faults()                   // the knobs now
 *   registry.receipts({ certificateId })  // every received transaction: txId, commandId, receivedAt, outcome ...
 *   registry.certificate("C-1")         // the registry's truth (owner, quantityWh, status, version) or undefined
 *   registry.status(txId)               // what GET /v1/transactions/{txId}/status answers
 *   registry.changeOutOfBand({ certificateId: "C-1", owner: "mallory" })   // another party's change
 *   registry.restoreFaults()            // faults back to those given at start; certificates and receipts stay
 *   registry.reset()                    // a fresh registry, faults back to those given at start
 *   await registry.stop()
 *
 * Faults start from TEST_FAULTS (milliseconds, not the demo's seconds) with `options.faults` on top.
 * Direct methods act at once; the same control API is at `${registry.url}/_emulator/*` with
 * `Authorization: Bearer ${EMULATOR_ADMIN_TOKEN}`.
 *
 * Wire helpers for tests that talk to a registry directly:
 *   encoded(type, certificateId, payload, header?)  // an EncodedTransaction {bytes, txId} with a fresh commandId and nonce
 *   postTransactions(url, [encoded...], { token?, timeoutMs? })   // -> { outcome: "answered", status, headers, body }
 *                                                  //  | { outcome: "refused" | "reset" | "timeout" }
 *   getStatus(url, txId, token?)                     // -> TransactionStatus
 *
 * Invariant I1 for assertions: receiptsPerCommand(registry, belongs?) counts receipts per commandId
 * (copies ignored under `dedupe: txId` excepted), optionally only on the certificates `belongs` accepts.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import { createLogger } from "../../src/core/logger.js";
import {
  encodeTransaction,
  type EncodedTransaction,
  type TransactionHeader,
  type TransactionStatus,
  type TransactionType,
} from "../../src/core/registry/wire.js";
import type { OutOfBandChange, Receipt, ReceiptFilter, RegistryEmulator } from "../../src/core/registry/emulator.js";
import { DEMO_FAULTS, FaultsSchema, applyFaultsPatch, type Faults, type FaultsPatch } from "../../src/core/registry/faults.js";
import { startEmulatorServer } from "../../src/registry-emulator/server.js";
import type { RegistryCertificate } from "../../src/core/registry/truth.js";

export const EMULATOR_ADMIN_TOKEN = "emulator-admin-token-0123456789";

/** Fast and reliable: a registry that commits within a few milliseconds and cuts a block every 50 ms. */
export const TEST_FAULTS: Faults = FaultsSchema.parse({
  ...DEMO_FAULTS,
  acceptLatencyMs: 0,
  commitLatencyMs: { min: 1, max: 5 },
  finalizeIntervalMs: 50,
});

export interface StartEmulatorOptions {
  /** Knobs on top of TEST_FAULTS; they are also what `reset()` returns to. */
  faults?: FaultsPatch;
  /** Bearer token the wire endpoints require (CERTFLOW_REGISTRY_TOKEN); default none. */
  token?: string;
  /** Wire port; default a free one. */
  port?: number;
}

export interface TestRegistryEmulator {
  url: string;
  controlUrl: string;
  port: number;
  setFaults(patch: FaultsPatch): Faults;
  faults(): Faults;
  receipts(filter?: ReceiptFilter): Receipt[];
  certificate(certificateId: string): RegistryCertificate | undefined;
  status(txId: string): TransactionStatus;
  changeOutOfBand(change: OutOfBandChange): RegistryCertificate | undefined;
  restoreFaults(): Faults;
  reset(): void;
  /** The engine itself, for anything the methods above do not cover. */
  emulator: RegistryEmulator;
  stop(): Promise<void>;
}

export async function startRegistryEmulator(options: StartEmulatorOptions = {}): Promise<TestRegistryEmulator> {
  const faults = applyFaultsPatch(TEST_FAULTS, options.faults ?? {});
  const running = await startEmulatorServer({
    port: options.port ?? 0,
    controlPort: 0,
    host: "127.0.0.1",
    faults,
    adminToken: EMULATOR_ADMIN_TOKEN,
    ...(options.token !== undefined ? { token: options.token } : {}),
    logger: createLogger((process.env.TEST_LOG_LEVEL as "silent" | undefined) ?? "silent"),
  });
  const { emulator } = running;
  return {
    url: running.url,
    controlUrl: running.controlUrl!,
    port: running.port,
    setFaults: (patch) => emulator.setFaults(patch),
    faults: () => emulator.faults,
    receipts: (filter) => emulator.receipts(filter),
    certificate: (certificateId) => emulator.certificate(certificateId),
    status: (txId) => emulator.status(txId),
    changeOutOfBand: (change) => emulator.changeOutOfBand(change),
    restoreFaults: () => emulator.setFaults(restoring(emulator.faults, faults)),
    reset: () => emulator.reset(),
    emulator,
    stop: () => running.stop(),
  };
}

/** The patch that brings `current` back to `initial`, per-certificate overrides included. */
function restoring(current: Faults, initial: Faults): FaultsPatch {
  const certificates: NonNullable<FaultsPatch["certificates"]> = Object.fromEntries(Object.keys(current.certificates).map((id) => [id, null]));
  return { ...initial, certificates: { ...certificates, ...initial.certificates } };
}

/** I1: receipts per command (copies ignored under `dedupe: txId` excepted), on the certificates `belongs` accepts. */
export function receiptsPerCommand(registry: TestRegistryEmulator, belongs: (certificateId: string) => boolean = () => true): Map<string, number> {
  const counts = new Map<string, number>();
  for (const receipt of registry.receipts()) {
    if (receipt.outcome === "duplicate" || !belongs(receipt.certificateId)) continue;
    counts.set(receipt.commandId, (counts.get(receipt.commandId) ?? 0) + 1);
  }
  return counts;
}

/** A transaction as a client builds it once: fresh commandId and nonce unless the header names them. */
export function encoded(
  type: TransactionType,
  certificateId: string,
  payload: Record<string, unknown>,
  header: Partial<TransactionHeader> = {},
): EncodedTransaction & { commandId: string } {
  const fullHeader: TransactionHeader = { certificateId, type, commandId: randomUUID(), nonce: randomUUID(), ...header };
  return { ...encodeTransaction({ header: fullHeader, payload }), commandId: fullHeader.commandId };
}

export type PostOutcome =
  | { outcome: "answered"; status: number; headers: http.IncomingHttpHeaders; body: string }
  /** ECONNREFUSED: provably not received. */
  | { outcome: "refused" }
  /** The connection was reset or closed before an answer: received or not, the client cannot tell. */
  | { outcome: "reset" }
  /** No answer within `timeoutMs`; the client gave up and closed its connection. */
  | { outcome: "timeout" };

/** `POST /v1/transactions` on a new connection, reporting how it ended the way a careful client must classify it. */
export function postTransactions(
  url: string,
  transactions: ReadonlyArray<{ bytes: string }>,
  options: { token?: string; timeoutMs?: number } = {},
): Promise<PostOutcome> {
  const body = JSON.stringify({ transactions: transactions.map(({ bytes }) => ({ bytes })) });
  const target = new URL("/v1/transactions", url);
  return new Promise((resolve) => {
    const request = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "POST",
        agent: false,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ outcome: "answered", status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }),
        );
        response.on("error", () => resolve({ outcome: "reset" }));
      },
    );
    let timedOut = false;
    if (options.timeoutMs !== undefined) {
      request.setTimeout(options.timeoutMs, () => {
        timedOut = true;
        request.destroy();
      });
    }
    request.on("error", (error: NodeJS.ErrnoException) => {
      if (timedOut) resolve({ outcome: "timeout" });
      else resolve({ outcome: error.code === "ECONNREFUSED" ? "refused" : "reset" });
    });
    request.end(body);
  });
}

export async function getStatus(url: string, txId: string, token?: string): Promise<TransactionStatus> {
  const response = await fetch(new URL(`/v1/transactions/${encodeURIComponent(txId)}/status`, url), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (response.status !== 200) throw new Error(`status of ${txId} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as TransactionStatus;
}
