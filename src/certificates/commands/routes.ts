import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { identifier, wattHours } from "../../core/notifications/certificate.js";
import { PageQuerySchema, bearer, json, jsonBody, problems } from "../../core/http/openapi.js";
import { CertificateIdParamSchema } from "../book/routes.js";
import { COMMAND_STATES } from "./command-log.js";

export const PreferHeaderSchema = z.object({
  prefer: z
    .string()
    .max(200)
    .optional()
    .openapi({
      description:
        "RFC 7240. `wait=N` (N <= 60): answer once the command ended, 201 committed or 422 failed with the registry's message, or 202 after N seconds. " +
        "`no-queue`: 409 when the certificate already has a command in flight, instead of queueing behind it.",
      example: "wait=10",
    }),
});

export const CommandSchema = z
  .object({
    commandId: z.string(),
    id: z.string(),
    certificateId: z.string(),
    type: z.enum(["issue", "cancel", "slice", "transfer", "claim", "withdraw"]),
    state: z.enum(COMMAND_STATES as [string, ...string[]]),
    txId: z.string().openapi({ description: "base64url(sha256(bytes)) of the transaction, built once at acceptance" }),
    statuses: z.array(z.object({ status: z.string(), at: z.string() })).openapi({ description: "Every registry status seen, in order" }),
    error: z.string().nullable(),
    sendAttempts: z.number().int(),
    sendOutcome: z.string().nullable(),
    parentId: z.string().nullable(),
    correlationId: z.string(),
    sagaId: z.string().nullable(),
    intent: z.record(z.string(), z.unknown()),
    requestedBy: z.string(),
    acceptedAt: z.string(),
    sentAt: z.string().nullable(),
    deadlineAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    trace: z.object({ notificationId: z.string(), href: z.string() }).openapi({ description: "The command's accepted event: its trace shows sent, committed or failed, and the certificate events" }),
  })
  .openapi("Command");

const commandResponses = {
  202: json(CommandSchema, "Accepted; `Location` is the command"),
  201: json(CommandSchema, "Committed at the registry and in the book (with Prefer: wait)"),
  ...problems(404, 409, 422),
};

const commandRoute = <B extends z.ZodType>(path: string, summary: string, description: string, body: B) =>
  authorizedRoute({
    access: ["admin", "producer"],
    method: "post",
    path,
    tags: ["commands"],
    summary,
    description: `Admin or producer token. ${description} The command goes to the registry first; the book changes once the registry committed it.`,
    security: bearer,
    request: { params: CertificateIdParamSchema, headers: PreferHeaderSchema, body: jsonBody(body) },
    responses: commandResponses,
  });

export const sliceRoute = commandRoute(
  "/v1/certificates/{id}/slices",
  "Slice a certificate into parts",
  "Parts are new certificates `<id>-s1`, `<id>-s2`, ...; their quantities must sum to the certificate's exactly (watt-hours). The source is used up (cancelled).",
  z.strictObject({
    parts: z
      .array(z.strictObject({ quantityWh: wattHours.min(1, { error: "must be at least 1 Wh" }), owner: identifier("owner").optional() }))
      .min(2, { error: "name at least two parts" })
      .max(1000, { error: "name at most 1000 parts" }),
  }),
);

export const transferRoute = commandRoute("/v1/certificates/{id}/transfers", "Transfer a certificate", "Moves the whole certificate to `to` (slice first to transfer a part).", z.strictObject({ to: identifier("to") }));

export const claimRoute = commandRoute("/v1/certificates/{id}/claims", "Claim a certificate", "The certificate becomes `claimed` for the beneficiary.", z.strictObject({ beneficiary: z.string().min(1).max(200) }));

export const withdrawRoute = commandRoute("/v1/certificates/{id}/withdrawals", "Withdraw a certificate", "The certificate becomes `withdrawn`.", z.strictObject({ reason: z.string().min(1).max(500) }));

const CommandIdParamSchema = z.object({ id: z.uuid({ error: "expected a command id (UUID)" }).openapi({ param: { name: "id", in: "path" } }) });

export const getCommandRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/commands/{id}",
  tags: ["commands"],
  summary: "A command: its state, transaction id and every registry status seen",
  description: "Admin or producer token. `state` is queued, sending, sent, committed, failed or indeterminate; `statuses` lists every registry status seen, with when. A finished command removed by retention (`CERTFLOW_RETENTION_COMMANDS`) answers 410 with a problem that says so.",
  security: bearer,
  request: { params: CommandIdParamSchema },
  responses: { 200: json(CommandSchema, "The command"), ...problems(404, 410) },
});

export const listCommandsRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/commands",
  tags: ["commands"],
  summary: "List commands, oldest first",
  description: "Admin or producer token. Filter by `certificateId` and `state` (e.g. `state=indeterminate` for the commands an operator must look at); cursor-paginated.",
  security: bearer,
  request: {
    query: PageQuerySchema.extend({
      certificateId: identifier("certificateId").optional(),
      state: z.enum(COMMAND_STATES as [string, ...string[]]).optional(),
    }),
  },
  responses: { 200: json(z.object({ data: z.array(CommandSchema), nextCursor: z.string().nullable() }), "A page of commands"), ...problems() },
});

export const resolveCommandRoute = authorizedRoute({
  access: ["admin"],
  method: "post",
  path: "/v1/commands/{id}/resolve",
  tags: ["commands"],
  summary: "Settle an indeterminate command with evidence (admin)",
  description: "Only an `indeterminate` command can be resolved (else 409). `committed` applies it to the book; `failed` releases the certificate. Logged and published as `registry.command.resolved`.",
  security: bearer,
  request: {
    params: CommandIdParamSchema,
    body: jsonBody(z.strictObject({ outcome: z.enum(["committed", "failed"]), evidence: z.string().min(1, { error: "say what shows the outcome" }).max(2000) })),
  },
  responses: { 200: json(CommandSchema, "Resolved"), ...problems(404, 409) },
});

export const reconcileRoute = authorizedRoute({
  access: ["admin"],
  method: "post",
  path: "/v1/registry/reconcile",
  tags: ["commands"],
  summary: "Reconcile with the registry now (admin)",
  description:
    "Asks the status of every unfinished command, resolves indeterminate ones where the registry's answer allows, and compares certificates' committed transactions with the book " +
    "where the registry offers them, publishing `registry.misalignment.detected` for each difference (the book is never overwritten). " +
    "With `compareStreams: true` and a registry that does not offer certificate transactions: 501.",
  security: bearer,
  request: {
    body: {
      required: false,
      content: {
        "application/json": {
          schema: z.strictObject({
            certificateIds: z.array(identifier("certificateId")).max(10_000).optional().openapi({ description: "Compare only these; default every certificate in the book" }),
            compareStreams: z.boolean().optional(),
          }),
        },
      },
    },
  },
  responses: {
    200: json(
      z.object({
        polled: z.number().int(),
        resolved: z.number().int(),
        compared: z.number().int(),
        misalignments: z.array(z.object({ id: z.string(), certificateId: z.string(), local: z.unknown(), registry: z.unknown() })),
        streams: z.enum(["compared", "unsupported"]),
      }),
      "What the pass did",
    ),
    ...problems(501),
  },
});
