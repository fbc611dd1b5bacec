import { ADMIN_TOKEN } from "./env.js";
import { HttpClient } from "./http-client.js";
import type { NotificationInput } from "./payload.js";
import type { Tally } from "./tally.js";

/** What every benchmark's subscriber asks for. */
export const DRAIN_PULL_MAX = 500;
export const DRAIN_PULL_WAIT_SECONDS = 1;

export interface Credential {
  name: string;
  token: string;
}

export async function createProducer(client: HttpClient, name: string): Promise<Credential> {
  const body = await client.json("POST", "/v1/producers", 201, { body: { name }, token: ADMIN_TOKEN });
  return { name, token: body.token as string };
}

export async function createSubscription(client: HttpClient, name: string): Promise<Credential> {
  const body = await client.json("POST", "/v1/subscriptions", 201, {
    body: { name, filters: [{ types: ["*"] }] },
    token: ADMIN_TOKEN,
  });
  return { name, token: body.token as string };
}

export type BatchItemResult = { index: number; id: string; sequence: number; duplicate: boolean } | { index: number; error: unknown };

/** Posts one batch; every item must be accepted (and new). Returns the accepted ids in order. */
export async function postBatch(client: HttpClient, producer: Credential, inputs: readonly NotificationInput[]): Promise<string[]> {
  const response = await client.request("POST", "/v1/notifications/batch", {
    body: JSON.stringify({ notifications: inputs }),
    token: producer.token,
  });
  if (response.status !== 202) throw new Error(`batch answered ${response.status}: ${response.text.slice(0, 500)}`);
  const { results } = JSON.parse(response.text) as { results: BatchItemResult[] };
  return results.map((result) => {
    if (!("id" in result) || result.duplicate) throw new Error(`batch item not accepted: ${JSON.stringify(result).slice(0, 500)}`);
    return result.id;
  });
}

export interface PulledMessage {
  ackId: string;
  sequence: number;
  notification: { id: string; subject: string };
}

export async function pull(client: HttpClient, subscription: Credential, max: number, waitSeconds: number): Promise<PulledMessage[]> {
  const response = await client.request("GET", `/v1/subscriptions/${subscription.name}/messages?max=${max}&wait=${waitSeconds}`, {
    token: subscription.token,
  });
  if (response.status !== 200) throw new Error(`pull answered ${response.status}: ${response.text.slice(0, 500)}`);
  return (JSON.parse(response.text) as { messages: PulledMessage[] }).messages;
}

/**
 * `POST .../pull`: acks `acked` and pulls the next batch in one round trip. Every ack must be
 * accepted. With acks to confirm it does not wait for messages (the caller long-polls without).
 */
export async function pullWithAcks(
  client: HttpClient,
  subscription: Credential,
  acked: readonly PulledMessage[],
  max: number,
  waitSeconds: number,
): Promise<PulledMessage[]> {
  const body = JSON.stringify({ ackIds: acked.map((message) => message.ackId), max, wait: acked.length > 0 ? 0 : waitSeconds });
  const response = await client.request("POST", `/v1/subscriptions/${subscription.name}/pull`, { body, token: subscription.token });
  if (response.status !== 200) throw new Error(`pull answered ${response.status}: ${response.text.slice(0, 500)}`);
  const { results, messages } = JSON.parse(response.text) as { results: Array<{ status: string }>; messages: PulledMessage[] };
  const failed = results.filter((result) => result.status !== "acked");
  if (failed.length > 0) throw new Error(`${failed.length} acks not accepted: ${JSON.stringify(failed.slice(0, 3))}`);
  return messages;
}

export async function ack(client: HttpClient, subscription: Credential, messages: readonly PulledMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const response = await client.request("POST", `/v1/subscriptions/${subscription.name}/acks`, {
    body: JSON.stringify({ ackIds: messages.map((message) => message.ackId) }),
    token: subscription.token,
  });
  if (response.status !== 200) throw new Error(`ack answered ${response.status}: ${response.text.slice(0, 500)}`);
  const { results } = JSON.parse(response.text) as { results: Array<{ status: string }> };
  const failed = results.filter((result) => result.status !== "acked");
  if (failed.length > 0) throw new Error(`${failed.length} acks not accepted: ${JSON.stringify(failed.slice(0, 3))}`);
}

type Sample = Map<string, { sum: number; count: number }>;

/** Server-side request time per route, from certflow's own /metrics histogram (no auth needed). */
export async function scrapeRouteTimes(client: HttpClient): Promise<Sample> {
  const response = await client.request("GET", "/metrics");
  const sample: Sample = new Map();
  const line = /^certflow_http_request_duration_seconds_(sum|count)\{([^}]*)\} ([0-9.e+-]+)$/;
  for (const text of response.text.split("\n")) {
    const match = line.exec(text);
    if (!match) continue;
    const labels = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((label) => [label[1], label[2]]));
    const key = `${labels.method} ${labels.route}`;
    const entry = sample.get(key) ?? { sum: 0, count: 0 };
    entry[match[1] as "sum" | "count"] += Number(match[3]);
    sample.set(key, entry);
  }
  return sample;
}

/** Requests, mean server time and total server time per route between two scrapes. */
export function routeTimesBetween(before: Sample, after: Sample): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [route, now] of after) {
    const then = before.get(route) ?? { sum: 0, count: 0 };
    const count = now.count - then.count;
    if (count <= 0) continue;
    const seconds = now.sum - then.sum;
    result[route] = `${count} requests, mean ${((seconds / count) * 1000).toFixed(1)} ms, total ${seconds.toFixed(2)} s`;
  }
  return result;
}

/**
 * Pulls and acks until the tally is complete. Like a NATS client, whose acks are asynchronous,
 * it keeps one ack in flight while it pulls the next batch; a message counts once its ack is answered.
 */
export async function drainPulled(client: HttpClient, subscription: Credential, tally: Tally, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let acking: Promise<void> = Promise.resolve();
  while (!tally.complete) {
    if (Date.now() > deadline) throw new Error(`${subscription.name} timed out with ${tally.ids.size} ids`);
    const messages = await pull(client, subscription, DRAIN_PULL_MAX, DRAIN_PULL_WAIT_SECONDS);
    await acking;
    if (messages.length === 0) continue;
    acking = ack(client, subscription, messages).then(() => {
      const at = performance.now();
      for (const message of messages) tally.add(message.notification.id, at);
    });
  }
  await acking;
}

/** Pulls (noting when each subject arrived) and acks, while `running` says so. */
export async function pullWhile(
  client: HttpClient,
  subscription: Credential,
  onReceived: (subject: string, at: number) => void,
  running: () => boolean,
): Promise<void> {
  while (running()) {
    const messages = await pull(client, subscription, DRAIN_PULL_MAX, DRAIN_PULL_WAIT_SECONDS);
    const at = performance.now();
    for (const message of messages) onReceived(message.notification.subject, at);
    await ack(client, subscription, messages);
  }
}

/** Pulls kept in flight by `consumePipelined`: one long-polls while the batch of the other is handled and acked. */
export const PULLS_IN_FLIGHT = 2;

export interface PipelinedConsumer {
  /** A batch arrived (`at`: when its response was read). */
  received(messages: readonly PulledMessage[], at: number): void;
  /** certflow confirmed these acks. */
  acked(messages: readonly PulledMessage[], at: number): void;
  running(): boolean;
}

/**
 * A subscriber loop with PULLS_IN_FLIGHT `POST .../pull` requests in flight: each answer is
 * handled as it comes, and the next request carries its acks. Order still holds: certflow hands
 * out a subject's next message only once the one before is acked, so two batches in flight
 * never hold two messages of one subject. A request carrying acks does not wait for messages
 * (its acks are confirmed at once); the other one long-polls. What is left at the end is acked on its own.
 */
export async function consumePipelined(client: HttpClient, subscription: Credential, consumer: PipelinedConsumer): Promise<void> {
  interface Answer {
    request: Promise<Answer>;
    carried: PulledMessage[];
    messages: PulledMessage[];
  }
  const inFlight = new Set<Promise<Answer>>();
  const send = (carried: PulledMessage[]) => {
    const request: Promise<Answer> = pullWithAcks(client, subscription, carried, DRAIN_PULL_MAX, DRAIN_PULL_WAIT_SECONDS).then((messages) => ({ request, carried, messages }));
    inFlight.add(request);
  };
  for (let index = 0; index < PULLS_IN_FLIGHT; index++) send([]);
  const left: PulledMessage[] = [];
  try {
    while (inFlight.size > 0) {
      const answer = await Promise.race(inFlight);
      inFlight.delete(answer.request);
      const at = performance.now();
      if (answer.carried.length > 0) consumer.acked(answer.carried, at);
      if (answer.messages.length > 0) consumer.received(answer.messages, at);
      if (consumer.running()) send(answer.messages);
      else left.push(...answer.messages);
    }
  } finally {
    // A failed request leaves the others running: let them finish before reporting it.
    await Promise.allSettled(inFlight);
  }
  for (let offset = 0; offset < left.length; offset += DRAIN_PULL_MAX) {
    const batch = left.slice(offset, offset + DRAIN_PULL_MAX);
    await ack(client, subscription, batch);
    consumer.acked(batch, performance.now());
  }
}

/** Pulls and acks (pipelined) until the tally is complete. A message counts once its ack is confirmed. */
export async function drainPipelined(client: HttpClient, subscription: Credential, tally: Tally, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await consumePipelined(client, subscription, {
    received() {},
    acked(messages, at) {
      for (const message of messages) tally.add(message.notification.id, at);
    },
    running() {
      if (Date.now() > deadline) throw new Error(`${subscription.name} timed out with ${tally.ids.size} ids`);
      return !tally.complete;
    },
  });
}
