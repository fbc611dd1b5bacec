import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CertflowError, CertflowUnreachableError, call, createCertflowClient, type CertflowClient, type TraceTree } from "../typescript/src/index.js";
import { EXIT, UsageError, NotAvailableError, PartlyRefusedError } from "./exit-codes.js";
import { progressBar, table } from "./output.js";

const HELP = `certflow — the certflow API from the command line

Usage: certflow <command> [options]

  subscriptions list
  subscriptions create <name> [--type T]... [--where field=v1,v2]... [--prefill] [--push-url URL]
  subscriptions describe <name>
  producers create <name>                     register a producer, print its token
  producers token <name>                      issue a new token for a producer
  tail <subscription> [--count N] [--wait S] [--no-ack]
                                              pull, print and ack messages (Ctrl-C stops)
  publish <file> [--batch N]                  NDJSON or a JSON array of notifications
  convert <annualCertificateId> <file.csv> [--unit Wh|kWh|MWh] [--no-follow]
  trace <notificationId>                      ancestors and the tree of descendants
  dead-letters list <subscription>
  dead-letters redrive <subscription> [id...]  all, or the ids given
  commands [--state S]                        registry commands (servers that have them)

Options: --url (CERTFLOW_URL, default http://localhost:8080), --token (CERTFLOW_TOKEN), --json, --help
Exit codes: 0 ok, 1 usage, 2 the API refused, 3 certflow unreachable, 4 done but some items refused,
            5 this server does not have that endpoint`;

interface Context {
  client: CertflowClient;
  url: string;
  token: string;
  json: boolean;
  values: Record<string, string | boolean | string[] | undefined>;
  args: string[];
}

const OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  type: { type: "string", multiple: true },
  where: { type: "string", multiple: true },
  prefill: { type: "boolean", default: false },
  "push-url": { type: "string" },
  count: { type: "string" },
  wait: { type: "string" },
  "no-ack": { type: "boolean", default: false },
  batch: { type: "string" },
  unit: { type: "string" },
  "no-follow": { type: "boolean", default: false },
  state: { type: "string" },
} as const;

type Command = (context: Context) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  "subscriptions list": listSubscriptions,
  "subscriptions create": createSubscription,
  "subscriptions describe": describeSubscription,
  "producers create": createProducer,
  "producers token": producerToken,
  tail,
  publish,
  convert,
  trace,
  "dead-letters list": listDeadLetters,
  "dead-letters redrive": redrive,
  commands,
};

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    console.log(HELP);
    return positionals.length === 0 && !values.help ? EXIT.usage : EXIT.ok;
  }
  const two = `${positionals[0]} ${positionals[1] ?? ""}`.trim();
  const [name, args] = COMMANDS[two] ? [two, positionals.slice(2)] : [positionals[0]!, positionals.slice(1)];
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${positionals.join(" ")}"; see certflow --help`);
  const url = values.url ?? process.env.CERTFLOW_URL ?? "http://localhost:8080";
  const token = values.token ?? process.env.CERTFLOW_TOKEN;
  if (!token) throw new UsageError("set CERTFLOW_TOKEN (or --token) to an admin, producer or subscription token");
  await command({ client: createCertflowClient({ baseUrl: url, token }), url, token, json: values.json, values, args });
  return EXIT.ok;
}

function arg(context: Context, index: number, what: string): string {
  const value = context.args[index];
  if (value === undefined) throw new UsageError(`missing ${what}; see certflow --help`);
  return value;
}

function integer(value: unknown, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new UsageError(`--${what} must be a whole number`);
  return number;
}

const print = (context: Context, data: unknown, human: () => void) => (context.json ? console.log(JSON.stringify(data, null, 2)) : human());

async function listSubscriptions(context: Context): Promise<void> {
  const page = await call(context.client.api.GET("/v1/subscriptions", { params: { query: { limit: 500 } } }));
  print(context, page.data, () =>
    console.log(
      table(
        ["name", "status", "mode", "filters", "prefill"],
        page.data.map((sub) => [sub.name, sub.status, sub.delivery.mode, JSON.stringify(sub.filters), sub.prefill.status]),
      ),
    ),
  );
}

async function createSubscription(context: Context): Promise<void> {
  const name = arg(context, 0, "the subscription name");
  const where: Record<string, string[]> = {};
  for (const clause of (context.values.where as string[] | undefined) ?? []) {
    const [field, list] = clause.split("=", 2);
    if (!field || !list) throw new UsageError(`--where ${clause}: expected field=value[,value...]`);
    where[field] = list.split(",");
  }
  const types = (context.values.type as string[] | undefined) ?? ["*"];
  const pushUrl = context.values["push-url"] as string | undefined;
  const created = await call(
    context.client.api.POST("/v1/subscriptions", {
      body: {
        name,
        filters: [{ types, ...(Object.keys(where).length > 0 ? { where } : {}) }],
        prefill: Boolean(context.values.prefill),
        ...(pushUrl ? { delivery: { mode: "push" as const, url: pushUrl } } : {}),
      },
    }),
  );
  print(context, created, () => {
    console.log(`subscription ${created.subscription.name} (${created.subscription.delivery.mode})`);
    if ("token" in created) console.log(`token: ${created.token}   (shown once)`);
    else console.log("already existed with this configuration; `POST /v1/subscriptions/{name}/token` issues a new token");
    if ("secret" in created && created.secret) console.log(`webhook secret: ${created.secret}   (shown once)`);
  });
}

async function describeSubscription(context: Context): Promise<void> {
  const name = arg(context, 0, "the subscription name");
  const sub = await call(context.client.api.GET("/v1/subscriptions/{name}", { params: { path: { name } } }));
  print(context, sub, () => {
    console.log(`${sub.name}  ${sub.status}${sub.statusReason ? ` (${sub.statusReason})` : ""}  ${sub.delivery.mode}`);
    console.log(`filters:  ${JSON.stringify(sub.filters)}`);
    console.log(`pending:  ${sub.stats.pending}   acked: ${sub.stats.acked}   dead letters: ${sub.stats.deadLettered}`);
    console.log(`prefill:  ${sub.prefill.enabled ? `${sub.prefill.status} ${sub.prefill.sent}/${sub.prefill.total}` : "off"}`);
  });
}

async function createProducer(context: Context): Promise<void> {
  const name = arg(context, 0, "the producer name");
  const created = await call(context.client.api.POST("/v1/producers", { body: { name } }));
  print(context, created, () => console.log(created.token));
}

async function producerToken(context: Context): Promise<void> {
  const name = arg(context, 0, "the producer name");
  const issued = await call(context.client.api.POST("/v1/producers/{name}/token", { params: { path: { name } } }));
  print(context, issued, () => console.log(issued.token));
}

async function tail(context: Context): Promise<void> {
  const name = arg(context, 0, "the subscription name");
  const count = integer(context.values.count, "count", Number.POSITIVE_INFINITY);
  const wait = integer(context.values.wait, "wait", 20);
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  let seen = 0;
  if (count === 0) return;
  for await (const message of context.client.consume(name, { max: Math.min(count, 100), wait, signal: stop.signal, autoAck: !context.values["no-ack"] })) {
    const { notification } = message;
    if (context.json) console.log(JSON.stringify({ ackId: message.ackId, sequence: message.sequence, phase: message.phase, notification }));
    else console.log(`${message.sequence}\t${message.phase}\t${notification.type}\t${notification.subject}\t${notification.id}`);
    if (!context.values["no-ack"]) message.ack();
    if (++seen >= count) break;
  }
}

function readNotifications(file: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    if (text.trimStart().startsWith("[")) return JSON.parse(text) as unknown[];
    return text
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as unknown);
  } catch (error) {
    throw new UsageError(`${file} is neither NDJSON nor a JSON array: ${(error as Error).message}`);
  }
}

async function publish(context: Context): Promise<void> {
  const file = arg(context, 0, "the file of notifications");
  const notifications = readNotifications(file);
  const batch = integer(context.values.batch, "batch", 1000) || 1000;
  const summary = { accepted: 0, duplicate: 0, refused: 0 };
  const refusals: Array<{ index: number; detail: string }> = [];
  const bar = progressBar("publishing", notifications.length, context.json);
  for (let start = 0; start < notifications.length; start += batch) {
    const slice = notifications.slice(start, start + batch);
    const { results } = await call(context.client.api.POST("/v1/notifications/batch", { body: { notifications: slice as never } }));
    for (const result of results) {
      if ("error" in result) {
        summary.refused++;
        refusals.push({ index: start + result.index, detail: result.error.detail.replace(/^notifications\.\d+\./, "") });
      } else if (result.duplicate) summary.duplicate++;
      else summary.accepted++;
    }
    bar.update(start + slice.length);
  }
  bar.done();
  print(context, { ...summary, refusals }, () => {
    console.log(`${summary.accepted} accepted, ${summary.duplicate} duplicate, ${summary.refused} refused`);
    for (const refusal of refusals.slice(0, 20)) console.log(`  #${refusal.index}: ${refusal.detail}`);
    if (refusals.length > 20) console.log(`  ... and ${refusals.length - 20} more (--json lists all)`);
  });
  if (summary.refused > 0) throw new PartlyRefusedError(`${summary.refused} of ${notifications.length} notifications were refused`);
}

async function convert(context: Context): Promise<void> {
  const annualCertificateId = arg(context, 0, "the annual certificate id");
  const file = arg(context, 1, "the CSV profile");
  let csv: string;
  try {
    csv = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const unit = context.values.unit as "Wh" | "kWh" | "MWh" | undefined;
  const submitted = await call(
    context.client.api.POST("/v1/conversions", {
      params: { query: { annualCertificateId, ...(unit ? { unit } : {}) } },
      body: csv,
      bodySerializer: (body: unknown) => body as string,
      headers: { "content-type": "text/csv" },
    }),
  );
  if (context.values["no-follow"]) return print(context, submitted, () => console.log(`conversion ${submitted.conversionId} ${submitted.status}`));
  const bar = progressBar("converting", 100, context.json);
  for (;;) {
    const conversion = await call(context.client.api.GET("/v1/conversions/{id}", { params: { path: { id: submitted.conversionId } } }));
    bar.update(conversion.progress.percent, conversion.progress.step);
    if (conversion.status === "done" || conversion.status === "failed") {
      bar.done();
      print(context, conversion, () =>
        console.log(
          `conversion ${conversion.id} ${conversion.status}: ${conversion.counts.hourlyCertificates} hourly certificates` +
            `${conversion.validation ? `, validation ${conversion.validation.valid ? "passed" : "FAILED"}` : ""}` +
            `${conversion.error ? ` — ${conversion.error}` : ""}`,
        ),
      );
      if (conversion.status === "failed") throw new CertflowError(422, "unprocessable", undefined, conversion.error ?? "the conversion failed");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

async function trace(context: Context): Promise<void> {
  const id = arg(context, 0, "the notification id");
  const found = await call(context.client.api.GET("/v1/notifications/{id}/trace", { params: { path: { id } } }));
  print(context, found, () => {
    const label = (n: { type: string; subject: string; id: string }) => `${n.type}  ${n.subject}  ${n.id}`;
    found.ancestors.forEach((ancestor, depth) => console.log(`${"   ".repeat(depth)}${depth > 0 ? "└─ " : ""}${label(ancestor)}`));
    const depth = found.ancestors.length;
    console.log(`${"   ".repeat(depth)}${depth > 0 ? "└─ " : ""}${label(found.notification)}   ◀`);
    const draw = (nodes: TraceTree[], prefix: string) =>
      nodes.forEach((node, index) => {
        const last = index === nodes.length - 1;
        console.log(`${prefix}${last ? "└─ " : "├─ "}${label(node.notification)}`);
        draw(node.children, `${prefix}${last ? "   " : "│  "}`);
      });
    draw(found.descendants, "   ".repeat(depth + 1));
  });
}

async function listDeadLetters(context: Context): Promise<void> {
  const name = arg(context, 0, "the subscription name");
  const page = await call(context.client.api.GET("/v1/subscriptions/{name}/dead-letters", { params: { path: { name }, query: { limit: 500 } } }));
  print(context, page.deadLetters, () =>
    console.log(
      table(
        ["id", "reason", "deliveries", "type", "subject", "dead-lettered at"],
        page.deadLetters.map((letter) => [letter.id, letter.reason, String(letter.deliveryCount), letter.notification.type, letter.notification.subject, letter.deadLetteredAt]),
      ),
    ),
  );
}

async function redrive(context: Context): Promise<void> {
  const name = arg(context, 0, "the subscription name");
  const ids = context.args.slice(1);
  const result = await call(
    context.client.api.POST("/v1/subscriptions/{name}/dead-letters/redrive", { params: { path: { name } }, body: ids.length > 0 ? { ids } : {} }),
  );
  print(context, result, () => console.log(`${result.redriven} dead letters back in the queue`));
}

/** Not in this server's document (yet): called without the generated types, and a missing route is said so. */
async function commands(context: Context): Promise<void> {
  const url = new URL("/v1/commands", context.url);
  const state = context.values.state as string | undefined;
  if (state) url.searchParams.set("state", state);
  let response: Response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${context.token}` } });
  } catch (error) {
    throw new CertflowUnreachableError(context.url, error);
  }
  const body = (await response.json().catch(() => undefined)) as { data?: unknown[]; commands?: unknown[]; detail?: string } | undefined;
  if (response.status === 404 && body?.detail?.startsWith("no route for")) {
    throw new NotAvailableError(`this certflow server has no registry commands (GET /v1/commands answered 404); it needs a version with the registry connector`);
  }
  if (!response.ok) throw await CertflowError.from(response, body);
  const rows = (body?.data ?? body?.commands ?? []) as Array<Record<string, unknown>>;
  print(context, rows, () =>
    console.log(table(["id", "state", "type", "certificate", "txId"], rows.map((row) => [row.id, row.state, row.type, row.certificateId, row.txId].map((cell) => String(cell ?? ""))))),
  );
}

function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof CertflowUnreachableError) return EXIT.unreachable;
  if (error instanceof PartlyRefusedError) return EXIT.partlyRefused;
  if (error instanceof NotAvailableError) return EXIT.notAvailable;
  if (error instanceof CertflowError) return error.status === 404 && error.detail.startsWith("no route for") ? EXIT.notAvailable : EXIT.refused;
  return EXIT.refused;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`certflow: ${(error as Error).message}`);
    if (error instanceof CertflowError && error.code === "unauthorized") console.error("check CERTFLOW_TOKEN");
    process.exit(exitCodeOf(error));
  },
);
