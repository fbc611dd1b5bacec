import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { requirePrincipal } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import { decodeCursor, pageOf } from "../../core/http/openapi.js";
import { AppError } from "../../core/errors.js";
import { actorName } from "../book/registry-handlers.js";
import { parsePrefer } from "../commands/present.js";
import type { TradeRecord } from "./trade-store.js";
import type { Trades, TradeView } from "./trades.js";
import type { certificateTradesRoute, createTradeRoute, getTradeRoute, listTradesRoute } from "./routes.js";

export function presentTrade(trade: TradeRecord) {
  const mwh = trade.quantityWh / 1_000_000;
  return {
    id: trade.id,
    seller: trade.seller,
    buyer: trade.buyer,
    pricePerMwh: trade.pricePerMwh,
    certificateCount: trade.certificateCount,
    quantityWh: trade.quantityWh,
    mwh,
    totalPrice: trade.pricePerMwh === null ? null : Math.round(trade.pricePerMwh * mwh * 1e6) / 1e6,
    requestedBy: trade.requestedBy,
    createdAt: trade.createdAt.toISOString(),
    state: trade.state,
    error: trade.error,
    finishedAt: trade.finishedAt?.toISOString() ?? null,
  };
}

export function presentTradeView(view: TradeView) {
  return {
    ...presentTrade(view.trade),
    certificates: view.certificates,
    commands: view.commands.map((command) => ({
      commandId: command.id,
      certificateId: command.certificateId,
      role: command.sagaRole ?? "forward",
      state: command.state,
      error: command.error,
    })),
  };
}

export function tradeHandlers(trades: Trades) {
  const create: RouteHandler<typeof createTradeRoute, AppEnv> = async (c) => {
    const principal = requirePrincipal(c, "admin", "producer");
    const { waitSeconds } = parsePrefer(c.req.header("prefer"));
    const { created, trade } = await trades.trade(c.req.valid("json"), actorName(principal), c.get("logger"));
    const view = waitSeconds > 0 ? await trades.waitFor(trade.id, waitSeconds) : await trades.get(trade.id);
    if (view.trade.state === "failed") throw new AppError("unprocessable", `trade ${trade.id} failed and was compensated: ${view.trade.error ?? "a transfer failed"}`);
    c.header("Location", `/v1/trades/${trade.id}`);
    const status = !created ? 200 : view.trade.state === "completed" ? 201 : 202;
    return c.json(presentTradeView(view), status);
  };

  const list: RouteHandler<typeof listTradesRoute, AppEnv> = async (c) => {
    const { limit, cursor, owner, certificateId } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ id: z.string() }));
    const page = await trades.list({ owner, certificateId }, limit + 1, after?.id);
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ id: last.id }));
    return c.json({ data: items.map(presentTrade), nextCursor }, 200);
  };

  const get: RouteHandler<typeof getTradeRoute, AppEnv> = async (c) => {
    return c.json(presentTradeView(await trades.get(c.req.valid("param").id)), 200);
  };

  const history: RouteHandler<typeof certificateTradesRoute, AppEnv> = async (c) => {
    const { id } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ version: z.number().int() }));
    const page = await trades.historyOf(id, limit + 1, after?.version ?? 0);
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ version: last.version }));
    const data = items.map((entry) => ({
      certificateId: entry.certificateId,
      quantityWh: entry.quantityWh,
      previousOwner: entry.previousOwner,
      newOwner: entry.trade.buyer,
      version: entry.version,
      trade: presentTrade(entry.trade),
    }));
    return c.json({ certificateId: id, data, nextCursor }, 200);
  };

  return { create, list, get, history };
}
