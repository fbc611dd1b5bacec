import { expect } from "vitest";
import type { Api } from "./api.js";
import { unique } from "./fixtures.js";

/** Helpers for the certificate registry (annual certificates, conversions, trades). */

export function annual(overrides: Record<string, unknown> = {}) {
  return {
    id: unique("annual"),
    deviceId: "device-1",
    gridArea: "DK1",
    energySource: "wind",
    year: 2025,
    quantityWh: 1_000_000_007,
    owner: "owner-a",
    ...overrides,
  };
}

/** Every change goes through the registry; with this preference the answer waits for the commit. */
export const WAIT = { prefer: "wait=30" };

export type Certificate = { certificateId: string; version: number; quantityWh: number; owner: string; status: string; [key: string]: any };

/** Sends a command and waits for it to commit (201); returns the command. */
export async function committed(api: Api, token: string, path: string, body: unknown) {
  const response = await api.request("POST", path, { token, body, headers: WAIT });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  expect(response.body.state).toBe("committed");
  return response.body as { commandId: string; certificateId: string; txId: string; [key: string]: any };
}

export async function getCertificate(api: Api, token: string, id: string): Promise<Certificate> {
  const response = await api.get(`/v1/certificates/${id}`, token);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as Certificate;
}

/** Registers an annual certificate through the registry and returns it from the book. */
export async function registerAnnual(api: Api, token: string, overrides: Record<string, unknown> = {}) {
  const command = await committed(api, token, "/v1/certificates/annual", annual(overrides));
  return getCertificate(api, token, command.certificateId);
}

/** An annual certificate, registered and cancelled: ready to convert. */
export async function cancelledAnnual(api: Api, token: string, overrides: Record<string, unknown> = {}) {
  const certificate = await registerAnnual(api, token, overrides);
  await committed(api, token, `/v1/certificates/${certificate.certificateId}/cancel`, {});
  return getCertificate(api, token, certificate.certificateId);
}

export async function requestConversion(api: Api, token: string, body: Record<string, unknown>) {
  const response = await api.post("/v1/conversions", body, token);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body.conversionId as string;
}

export function postCsv(api: Api, token: string, query: string, csv: string) {
  return api.request("POST", `/v1/conversions?${query}`, { token, rawBody: csv, headers: { "content-type": "text/csv" } });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a conversion until it reaches `status` (done by default). */
export async function waitForConversion(api: Api, token: string, id: string, status = "done", timeoutMs = 200_000) {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const response = await api.get(`/v1/conversions/${id}`, token);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    last = response.body;
    if (last.status === status) return last;
    if (last.status === "failed" && status !== "failed") throw new Error(`conversion failed: ${last.error}`);
    await sleep(50);
  }
  throw new Error(`conversion ${id} did not reach ${status}: ${JSON.stringify(last)}`);
}

/** UTC hours of a year, as `YYYY-MM-DDTHH:00:00Z`. */
export function hoursOf(year: number): string[] {
  const start = Date.UTC(year, 0, 1);
  const count = (Date.UTC(year + 1, 0, 1) - start) / 3_600_000;
  return Array.from({ length: count }, (_, hour) => new Date(start + hour * 3_600_000).toISOString().replace(".000Z", "Z"));
}
