import createClient, { type Client } from "openapi-fetch";
import { CertflowError, CertflowUnreachableError } from "./errors.js";
import type { components, paths } from "./schema.js";

export { CertflowError, CertflowUnreachableError, type ErrorCode, type Problem } from "./errors.js";
export { verifyWebhook, WebhookVerificationError, type WebhookHeaders } from "./webhooks.js";
export type { components, paths, webhooks } from "./schema.js";

export type Schemas = components["schemas"];
export type Message = Schemas["Message"];
export type Notification = Schemas["Notification"];
export type Subscription = Schemas["Subscription"];
export type TraceTree = Schemas["TraceTree"];

export interface CertflowClientOptions {
  /** e.g. http://localhost:8080 */
  baseUrl: string;
  /** An admin, producer or subscription token. */
  token: string;
  fetch?: typeof fetch;
}

export interface CertflowClient {
  /** Every endpoint, typed from the API document (openapi-fetch). */
  api: Client<paths>;
  /** Pulls a subscription's messages; see {@link consume}. */
  consume(subscription: string, options?: ConsumeOptions): AsyncGenerator<Delivery, void, undefined>;
}

export function createCertflowClient(options: CertflowClientOptions): CertflowClient {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    headers: { authorization: `Bearer ${options.token}` },
    fetch: async (request: Request) => {
      try {
        return await baseFetch(request);
      } catch (error) {
        if ((error as Error).name === "AbortError") throw error;
        throw new CertflowUnreachableError(options.baseUrl, error);
      }
    },
  });
  return { api, consume: (subscription, consumeOptions) => consume(api, subscription, consumeOptions) };
}

type Result = { data?: unknown; error?: unknown; response: Response };

/**
 * The data of a successful call, or a CertflowError carrying the problem's `code` and
 * `requestId`: `const sub = await call(client.api.GET("/v1/subscriptions/{name}", ...))`.
 */
export async function call<T extends Result>(request: Promise<T>): Promise<Exclude<T["data"], undefined>> {
  const { data, error, response } = await request;
  if (!response.ok) throw await CertflowError.from(response, error);
  return data as Exclude<T["data"], undefined>;
}

/** A pulled message and how to settle it. Unsettled when the loop asks for the next one, it is acked. */
export interface Delivery extends Message {
  ack(): void;
  /** Hand it back; it comes again after `delaySeconds` (its subject waits meanwhile). */
  nack(delaySeconds?: number): void;
  /** Dead-letter it now: it can never be processed. */
  reject(): void;
}

export interface ConsumeOptions {
  /** Messages per pull (1-1000); also the most held in memory at once. Default 100. */
  max?: number;
  /** Long-poll seconds per pull (0-30). Default 20. */
  wait?: number;
  /** Ack messages left unsettled when the next one is asked for. Default true; false nacks them instead. */
  autoAck?: boolean;
  /** Stops the iteration (after settling what was handled). */
  signal?: AbortSignal;
}

type Settlement = { kind: "ack" } | { kind: "nack"; delaySeconds: number } | { kind: "reject" };

/**
 * An async iterator over a subscription's messages. It pulls a batch (long-poll) only when the
 * previous batch has been handled, so a slow consumer slows the pulls rather than piling up
 * messages (backpressure); settlements are sent in batches before the next pull. Leaving the
 * loop (break, return, an exception) hands back the message in hand and the rest of its batch,
 * unless they were settled, so they are redelivered at once instead of after their lease.
 */
export async function* consume(
  api: Client<paths>,
  subscription: string,
  options: ConsumeOptions = {},
): AsyncGenerator<Delivery, void, undefined> {
  const max = options.max ?? 100;
  const wait = options.wait ?? 20;
  const autoAck = options.autoAck ?? true;
  const pending = new Map<string, Settlement>();
  const path = { name: subscription };

  const flush = async () => {
    if (pending.size === 0) return;
    const groups = new Map<string, { route: "acks" | "nacks" | "rejects"; delaySeconds?: number; ackIds: string[] }>();
    for (const [ackId, settlement] of pending) {
      const key = settlement.kind === "nack" ? `nack:${settlement.delaySeconds}` : settlement.kind;
      const route = settlement.kind === "ack" ? "acks" : settlement.kind === "nack" ? "nacks" : "rejects";
      const group = groups.get(key) ?? { route, ackIds: [], ...(settlement.kind === "nack" ? { delaySeconds: settlement.delaySeconds } : {}) };
      group.ackIds.push(ackId);
      groups.set(key, group);
    }
    pending.clear();
    for (const group of groups.values()) {
      if (group.route === "acks") await call(api.POST("/v1/subscriptions/{name}/acks", { params: { path }, body: { ackIds: group.ackIds } }));
      else if (group.route === "rejects") {
        await call(api.POST("/v1/subscriptions/{name}/rejects", { params: { path }, body: { ackIds: group.ackIds } }));
      } else {
        await call(
          api.POST("/v1/subscriptions/{name}/nacks", {
            params: { path },
            body: { ackIds: group.ackIds, ...(group.delaySeconds ? { delaySeconds: group.delaySeconds } : {}) },
          }),
        );
      }
    }
  };

  let batch: Message[] = [];
  let position = 0;
  let current: Message | undefined;
  try {
    while (!options.signal?.aborted) {
      await flush();
      let pulled;
      try {
        pulled = await call(
          api.GET("/v1/subscriptions/{name}/messages", {
            params: { path, query: { max, wait } },
            ...(options.signal ? { signal: options.signal } : {}),
          }),
        );
      } catch (error) {
        if (options.signal?.aborted) break;
        throw error;
      }
      batch = pulled.messages;
      for (position = 0; position < batch.length; position++) {
        const message = batch[position]!;
        current = message;
        const settle = (settlement: Settlement) => {
          if (!pending.has(message.ackId)) pending.set(message.ackId, settlement);
        };
        yield {
          ...message,
          ack: () => settle({ kind: "ack" }),
          nack: (delaySeconds = 0) => settle({ kind: "nack", delaySeconds }),
          reject: () => settle({ kind: "reject" }),
        };
        current = undefined;
        if (!pending.has(message.ackId)) pending.set(message.ackId, autoAck ? { kind: "ack" } : { kind: "nack", delaySeconds: 0 });
        if (options.signal?.aborted) break;
      }
      if (options.signal?.aborted) break;
      batch = [];
    }
  } finally {
    // Left early: what is in hand and not yet yielded goes back to the queue now.
    const unsettled = [...(current ? [current] : []), ...batch.slice(position + 1)];
    for (const message of unsettled) if (!pending.has(message.ackId)) pending.set(message.ackId, { kind: "nack", delaySeconds: 0 });
    await flush();
  }
}
