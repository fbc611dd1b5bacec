import { setTimeout as sleep } from "node:timers/promises";
import type { HttpBindings } from "@hono/node-server";
import type { RouteHandler } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError, notFound } from "../core/errors.js";
import type { AppEnv } from "../core/http/env.js";
import { decodeTransaction, txIdOf } from "../core/registry/wire.js";
import type { ReceivedTransaction, RegistryEmulator } from "../core/registry/emulator.js";
import type {
  certificateTransactionsRoute,
  getCertificateRoute,
  getFaultsRoute,
  listReceiptsRoute,
  outOfBandRoute,
  putFaultsRoute,
  resetRoute,
  statsRoute,
  submitTransactionsRoute,
  transactionStatusRoute,
} from "./routes.js";

/** Ends the request's TCP connection with a reset, before any answer: the client cannot tell what happened. */
export function resetConnection(c: Context<AppEnv>): void {
  (c.env as HttpBindings | undefined)?.incoming.socket.resetAndDestroy();
}

export function wireHandlers(emulator: RegistryEmulator) {
  const submit: RouteHandler<typeof submitTransactionsRoute, AppEnv> = async (c) => {
    const received = decodeAll(c.req.valid("json").transactions);
    const faults = emulator.faultsFor(firstWithOverrides(emulator, received));
    if (emulator.draw() < faults.dropRequestRate) {
      resetConnection(c);
      return c.json({}, 202);
    }
    // The request is taken in this long after it arrived, typically after the client gave up.
    if (faults.delayRequestMs > 0) await sleep(faults.delayRequestMs);
    emulator.receive(received);
    if (faults.acceptLatencyMs > 0) await sleep(faults.acceptLatencyMs);
    if (emulator.draw() < faults.dropResponseRate) resetConnection(c);
    return c.json({}, 202);
  };

  const status: RouteHandler<typeof transactionStatusRoute, AppEnv> = (c) =>
    c.json(emulator.status(c.req.valid("param").txId), 200);

  const stream: RouteHandler<typeof certificateTransactionsRoute, AppEnv> = (c) => {
    if (!emulator.faults.streamReads) {
      throw new AppError("not_implemented", "this registry offers no stream reads (the emulator's streamReads is off)");
    }
    return c.json({ transactions: emulator.stream(c.req.valid("param").id) }, 200);
  };

  return { submit, status, stream };
}

export function controlHandlers(emulator: RegistryEmulator) {
  const getFaults: RouteHandler<typeof getFaultsRoute, AppEnv> = (c) => c.json(emulator.faults, 200);

  const putFaults: RouteHandler<typeof putFaultsRoute, AppEnv> = (c) => c.json(emulator.setFaults(c.req.valid("json")), 200);

  const receipts: RouteHandler<typeof listReceiptsRoute, AppEnv> = (c) =>
    c.json({ receipts: emulator.receipts(c.req.valid("query")) }, 200);

  const stats: RouteHandler<typeof statsRoute, AppEnv> = (c) => c.json(emulator.stats(), 200);

  const certificate: RouteHandler<typeof getCertificateRoute, AppEnv> = (c) => {
    const { id } = c.req.valid("param");
    const found = emulator.certificate(id);
    if (!found) throw notFound(`certificate ${id} in the emulated registry`);
    return c.json({ ...found, transactions: emulator.stream(id) }, 200);
  };

  const outOfBand: RouteHandler<typeof outOfBandRoute, AppEnv> = (c) => {
    const change = c.req.valid("json");
    const changed = emulator.changeOutOfBand(change);
    if (!changed) throw notFound(`certificate ${change.certificateId} in the emulated registry`);
    return c.json(changed, 200);
  };

  const reset: RouteHandler<typeof resetRoute, AppEnv> = (c) => {
    emulator.reset();
    return c.body(null, 204);
  };

  return { getFaults, putFaults, receipts, stats, certificate, outOfBand, reset };
}

/** Every transaction's bytes decoded and checked as the registry does; one bad item refuses the whole request, naming it. */
function decodeAll(transactions: ReadonlyArray<{ bytes: string }>): ReceivedTransaction[] {
  return transactions.map(({ bytes }, index) => {
    const decoded = decodeTransaction(bytes);
    if (!decoded.ok) {
      const path = `transactions.${index}.bytes`;
      throw new AppError("validation_failed", `${path}: ${decoded.error}`, [{ path, message: decoded.error }]);
    }
    return { bytes, txId: txIdOf(bytes), transaction: decoded.transaction };
  });
}

/** Request-level knobs of a batch follow the first transaction whose certificate has overrides, else the global ones. */
function firstWithOverrides(emulator: RegistryEmulator, received: readonly ReceivedTransaction[]): string | undefined {
  const overridden = emulator.faults.certificates;
  return received.find((item) => item.transaction.header.certificateId in overridden)?.transaction.header.certificateId;
}
