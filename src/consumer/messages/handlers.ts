import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { requireSubscriptionAccess } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import { decodeCursor, pageOf } from "../../core/http/openapi.js";
import { formatAckId, type LeasedMessage, type Phase, type SettleOutcome } from "../../mom/ledger/ledger.js";
import type { Subscriptions } from "../subscriptions/subscriptions.js";
import type { Messages } from "./messages.js";
import type { ackRoute, deadLettersRoute, nackRoute, pullRoute, pullWithAcksRoute, redriveRoute, rejectRoute } from "./routes.js";

const DeadLetterCursorSchema = z.object({ phase: z.enum(["prefill", "live"]), sequence: z.number().int() });

/** Notifications are stored as JSON text and spliced in as they are: no parse and re-serialise per message. */
function messagesJson(messages: LeasedMessage[]): string {
  const items = messages.map(
    (message) =>
      `{"ackId":${JSON.stringify(formatAckId(message.ackId))},"sequence":${message.sequence},"deliveryCount":${message.deliveryCount},"phase":"${message.phase}","notification":${message.notificationJson}}`,
  );
  return `[${items.join(",")}]`;
}

const presentOutcomes = (outcomes: SettleOutcome[]) => ({
  results: outcomes.map((outcome) => ({ ackId: formatAckId(outcome.ackId), status: outcome.status })),
});

const parseDeadLetterId = (id: string): { phase: Phase; sequence: number } => ({
  phase: id.startsWith("p") ? "prefill" : "live",
  sequence: Number(id.slice(1)),
});

export function messageHandlers(subscriptions: Subscriptions, messages: Messages) {
  const subscriptionOf = (c: Context<AppEnv>, name: string) => subscriptions.access(name, requireSubscriptionAccess(c, name));

  const pull: RouteHandler<typeof pullRoute, AppEnv> = async (c) => {
    const { name } = c.req.valid("param");
    const { max, wait } = c.req.valid("query");
    const subscription = await subscriptionOf(c, name);
    const leased = await messages.pull(subscription, max, wait, c.req.raw.signal);
    return c.body(`{"messages":${messagesJson(leased)}}`, 200, { "content-type": "application/json" }) as never;
  };

  const pullWithAcks: RouteHandler<typeof pullWithAcksRoute, AppEnv> = async (c) => {
    const subscription = await subscriptionOf(c, c.req.valid("param").name);
    const { ackIds, max, wait } = c.req.valid("json");
    const { acked, messages: leased } = await messages.ackThenPull(subscription, ackIds, max, wait, c.req.raw.signal);
    const results = JSON.stringify(presentOutcomes(acked).results);
    return c.body(`{"results":${results},"messages":${messagesJson(leased)}}`, 200, { "content-type": "application/json" }) as never;
  };

  const ack: RouteHandler<typeof ackRoute, AppEnv> = async (c) => {
    const subscription = await subscriptionOf(c, c.req.valid("param").name);
    return c.json(presentOutcomes(await messages.ack(subscription, c.req.valid("json").ackIds)), 200);
  };

  const nack: RouteHandler<typeof nackRoute, AppEnv> = async (c) => {
    const subscription = await subscriptionOf(c, c.req.valid("param").name);
    const { ackIds, delaySeconds } = c.req.valid("json");
    return c.json(presentOutcomes(await messages.nack(subscription, ackIds, delaySeconds)), 200);
  };

  const reject: RouteHandler<typeof rejectRoute, AppEnv> = async (c) => {
    const subscription = await subscriptionOf(c, c.req.valid("param").name);
    return c.json(presentOutcomes(await messages.reject(subscription, c.req.valid("json").ackIds)), 200);
  };

  const deadLetters: RouteHandler<typeof deadLettersRoute, AppEnv> = async (c) => {
    const subscription = await subscriptionOf(c, c.req.valid("param").name);
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor, DeadLetterCursorSchema);
    const page = await messages.deadLetters(subscription, limit + 1, after);
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ phase: last.phase, sequence: last.sequence }));
    const body = items.map((item) => ({
      id: `${item.phase === "prefill" ? "p" : "l"}${item.sequence}`,
      phase: item.phase,
      sequence: item.sequence,
      deliveryCount: item.deliveryCount,
      reason: item.reason,
      deadLetteredAt: item.deadLetteredAt.toISOString(),
      notification: JSON.parse(item.notificationJson),
    }));
    return c.json({ deadLetters: body, nextCursor }, 200);
  };

  const redrive: RouteHandler<typeof redriveRoute, AppEnv> = async (c) => {
    const subscription = await subscriptionOf(c, c.req.valid("param").name);
    const ids = c.req.valid("json").ids;
    const redriven = await messages.redrive(subscription, ids?.map(parseDeadLetterId));
    c.get("logger").info({ subscription: subscription.name, redriven }, "dead letters redriven");
    return c.json({ redriven }, 200);
  };

  return { pull, pullWithAcks, ack, nack, reject, deadLetters, redrive };
}
