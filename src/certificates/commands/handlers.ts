import type { RouteHandler } from "@hono/zod-openapi";
import type { Context } from "hono";
import { z } from "@hono/zod-openapi";
import { AppError, conflict } from "../../core/errors.js";
import { requirePrincipal } from "../../core/http/authorize.js";
import type { AppEnv } from "../../core/http/env.js";
import { decodeCursor, pageOf } from "../../core/http/openapi.js";
import { actorName } from "../book/registry-handlers.js";
import type { CommandRecord } from "./command-log.js";
import type { CommandOptions, Commands } from "./commands.js";
import type { CommandOutcomes } from "./outcomes.js";
import { parsePrefer, presentCommand } from "./present.js";
import type { Reconciler } from "./reconciler.js";
import type { claimRoute, getCommandRoute, listCommandsRoute, reconcileRoute, resolveCommandRoute, sliceRoute, transferRoute, withdrawRoute } from "./routes.js";

/**
 * Answers a command request: 202 with its `Location`, or with `Prefer: wait=N` its outcome once
 * known: 201 committed, 422 failed with the registry's message, 202 if still running.
 */
export async function answerCommand(c: Context<AppEnv>, commands: Commands, accepted: CommandRecord, waitSeconds: number) {
  const command = waitSeconds > 0 ? await commands.waitFor(accepted.id, waitSeconds) : accepted;
  if (command.state === "failed") throw new AppError("unprocessable", `command ${command.id} failed: ${command.error ?? "the registry failed it"}`);
  c.header("Location", `/v1/commands/${command.id}`);
  return c.json(presentCommand(command), command.state === "committed" ? 201 : 202);
}

/** Who asks and how: the credential, and the caller's preferences. */
export function commandOptions(c: Context<AppEnv>): { options: CommandOptions; waitSeconds: number } {
  const principal = requirePrincipal(c, "admin", "producer");
  const prefer = parsePrefer(c.req.header("prefer"));
  return { options: { requestedBy: actorName(principal), noQueue: prefer.noQueue }, waitSeconds: prefer.waitSeconds };
}

export function commandHandlers(commands: Commands, outcomes: CommandOutcomes, reconciler: Reconciler) {
  const slice: RouteHandler<typeof sliceRoute, AppEnv> = async (c) => {
    const { options, waitSeconds } = commandOptions(c);
    const command = await commands.slice(c.req.valid("param").id, c.req.valid("json").parts, options);
    return answerCommand(c, commands, command, waitSeconds) as never;
  };
  const transfer: RouteHandler<typeof transferRoute, AppEnv> = async (c) => {
    const { options, waitSeconds } = commandOptions(c);
    const command = await commands.transfer(c.req.valid("param").id, c.req.valid("json").to, options);
    return answerCommand(c, commands, command, waitSeconds) as never;
  };
  const claim: RouteHandler<typeof claimRoute, AppEnv> = async (c) => {
    const { options, waitSeconds } = commandOptions(c);
    const command = await commands.claim(c.req.valid("param").id, c.req.valid("json").beneficiary, options);
    return answerCommand(c, commands, command, waitSeconds) as never;
  };
  const withdraw: RouteHandler<typeof withdrawRoute, AppEnv> = async (c) => {
    const { options, waitSeconds } = commandOptions(c);
    const command = await commands.withdraw(c.req.valid("param").id, c.req.valid("json").reason, options);
    return answerCommand(c, commands, command, waitSeconds) as never;
  };

  const get: RouteHandler<typeof getCommandRoute, AppEnv> = async (c) => {
    return c.json(presentCommand(await commands.get(c.req.valid("param").id)), 200);
  };

  const list: RouteHandler<typeof listCommandsRoute, AppEnv> = async (c) => {
    const { limit, cursor, certificateId, state } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ seq: z.number().int() }));
    const page = await commands.list({ certificateId, state: state as CommandRecord["state"] | undefined }, limit + 1, after?.seq);
    const { items, nextCursor } = pageOf(page, limit, (last) => ({ seq: last.seq }));
    return c.json({ data: items.map(presentCommand), nextCursor }, 200);
  };

  const resolve: RouteHandler<typeof resolveCommandRoute, AppEnv> = async (c) => {
    const { id } = c.req.valid("param");
    const { outcome, evidence } = c.req.valid("json");
    const command = await commands.get(id);
    if (command.state !== "indeterminate") throw conflict(`command ${id} is ${command.state}; only an indeterminate command is resolved by hand`);
    if (!(await outcomes.resolve(command, { outcome, evidence, by: "admin" }))) throw conflict(`command ${id} changed while it was being resolved; look at it again`);
    return c.json(presentCommand(await commands.get(id)), 200);
  };

  const reconcile: RouteHandler<typeof reconcileRoute, AppEnv> = async (c) => {
    const body = (c.req.valid("json") as { certificateIds?: string[]; compareStreams?: boolean } | undefined) ?? {};
    const report = await reconciler.run(body.certificateIds);
    if (body.compareStreams === true && report.streams === "unsupported") {
      throw new AppError("not_implemented", "the registry does not offer certificate transactions; only command statuses were reconciled");
    }
    return c.json(report, 200);
  };

  return { slice, transfer, claim, withdraw, get, list, resolve, reconcile };
}
