import { expect } from "vitest";
import type { Api } from "./api.js";
import { ADMIN_TOKEN } from "./system.js";

let counter = 0;
export const unique = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;

export function certificate(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    certificateId: "cert-1",
    kind: "annual",
    deviceId: "device-1",
    gridArea: "DK1",
    energySource: "wind",
    periodStart: "2025-01-01T00:00:00.000Z",
    periodEnd: "2026-01-01T00:00:00.000Z",
    quantityWh: 1_000_000,
    owner: "owner-a",
    status: "active",
    version: 1,
    ...overrides,
  };
}

/** A valid `certificate.issued` for a certificate id, with data overrides. */
export function issued(certificateId: string, data: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) {
  return {
    type: "certificate.issued",
    subject: certificateId,
    data: certificate({ certificateId, ...data }),
    ...envelope,
  };
}

export async function createProducer(api: Api, name = unique("producer")): Promise<string> {
  const response = await api.post("/v1/producers", { name }, ADMIN_TOKEN);
  expect(response.status).toBe(201);
  return response.body.token as string;
}

export async function createSubscription(
  api: Api,
  spec: Record<string, unknown> = {},
): Promise<{ name: string; token: string; id: string }> {
  const name = (spec.name as string | undefined) ?? unique("sub");
  const response = await api.post(
    "/v1/subscriptions",
    { name, filters: [{ types: ["*"] }], ...spec },
    ADMIN_TOKEN,
  );
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return { name, token: response.body.token, id: response.body.subscription.id };
}

export async function publish(api: Api, producerToken: string, input: unknown) {
  const response = await api.post("/v1/notifications", input, producerToken);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body as { id: string; sequence: number; duplicate: boolean };
}

export interface PulledMessage {
  ackId: string;
  sequence: number;
  deliveryCount: number;
  phase: "prefill" | "live";
  notification: { id: string; type: string; subject: string; data: Record<string, any>; [key: string]: any };
}

export async function pull(api: Api, name: string, token: string, query = "max=100&wait=0"): Promise<PulledMessage[]> {
  const response = await api.get(`/v1/subscriptions/${name}/messages?${query}`, token);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.messages;
}

export async function ack(api: Api, name: string, token: string, messages: PulledMessage[]) {
  if (messages.length === 0) return;
  const response = await api.post(`/v1/subscriptions/${name}/acks`, { ackIds: messages.map((m) => m.ackId) }, token);
  expect(response.status).toBe(200);
  expect(response.body.results.every((r: { status: string }) => r.status === "acked")).toBe(true);
}

/** Pulls and acks until `expected` messages arrived (or the deadline passes); returns them in arrival order. */
export async function drain(
  api: Api,
  name: string,
  token: string,
  expected: number,
  timeoutMs = 20_000,
): Promise<PulledMessage[]> {
  const received: PulledMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (received.length < expected && Date.now() < deadline) {
    const batch = await pull(api, name, token, "max=500&wait=1");
    received.push(...batch);
    await ack(api, name, token, batch);
  }
  return received;
}

/** How many pulls the system has parked in a long-poll (from /metrics): lets a test act once its poll is waiting. */
export async function longPollsWaiting(api: Api): Promise<number> {
  const metrics = (await api.get("/metrics")).body as string;
  return Number(/^certflow_long_polls_waiting (\S+)$/m.exec(metrics)?.[1] ?? 0);
}
