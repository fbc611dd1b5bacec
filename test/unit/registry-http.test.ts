import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { backoff, judge } from "../../src/certificates/connector/connector.js";
import { parsePrefer } from "../../src/certificates/commands/present.js";
import { replay } from "../../src/certificates/commands/reconciler.js";
import { HttpRegistry } from "../../src/certificates/registry/http-registry.js";
import { RegistryUnreachable } from "../../src/core/registry/port.js";
import { encodeTransaction } from "../../src/core/registry/wire.js";

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? (server.closeAllConnections(), server.close(() => resolve())) : resolve()));
  server = undefined;
});

/** A tiny registry stand-in that answers every request the way `respond` says. */
async function registryAnswering(respond: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(respond);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const tx = [{ bytes: encodeTransaction({ header: { certificateId: "A", type: "cancel", commandId: "c1", nonce: "n" }, payload: {} }).bytes }];

describe("HttpRegistry send classification (DESIGN.md §8)", () => {
  it("202 is received", async () => {
    const url = await registryAnswering((_request, response) => response.writeHead(202).end("{}"));
    expect(await new HttpRegistry({ url, timeoutMs: 2000 }).submit(tx)).toEqual({ kind: "received" });
  });

  it("503 with Registry-Received: false is provably not received; a bare 503 and a 500 are ambiguous", async () => {
    let answer = 0;
    const url = await registryAnswering((_request, response) => {
      answer++;
      if (answer === 1) response.writeHead(503, { "Registry-Received": "false" }).end();
      else if (answer === 2) response.writeHead(503).end();
      else response.writeHead(500).end();
    });
    const client = new HttpRegistry({ url, timeoutMs: 2000 });
    expect((await client.submit(tx)).kind).toBe("not_received");
    expect((await client.submit(tx)).kind).toBe("ambiguous");
    expect((await client.submit(tx)).kind).toBe("ambiguous");
  });

  it("a refused connection is not received", async () => {
    const url = await registryAnswering(() => {});
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(await new HttpRegistry({ url, timeoutMs: 2000 }).submit(tx)).toEqual({ kind: "not_received", reason: "ECONNREFUSED" });
  });

  it("a timeout and a connection reset after the request are ambiguous", async () => {
    const url = await registryAnswering((request) => {
      if (request.headers["x-test"] === undefined) request.on("data", () => {});
    });
    expect(await new HttpRegistry({ url, timeoutMs: 100 }).submit(tx)).toEqual({ kind: "ambiguous", reason: "timeout" });
    await new Promise<void>((resolve) => (server!.closeAllConnections(), server!.close(() => resolve())));
    const reset = await registryAnswering((request) => request.socket.destroy());
    expect((await new HttpRegistry({ url: reset, timeoutMs: 2000 }).submit(tx)).kind).toBe("ambiguous");
  });

  it("a 4xx is a rejected request; status and stream reads follow the contract (501 = not offered)", async () => {
    const url = await registryAnswering((request, response) => {
      if (request.method === "POST") return response.writeHead(400).end('{"error":"bad"}');
      if (request.url?.endsWith("/status")) return response.writeHead(200, { "content-type": "application/json" }).end('{"status":"pending"}');
      response.writeHead(501).end();
    });
    const client = new HttpRegistry({ url, timeoutMs: 2000 });
    expect((await client.submit(tx)).kind).toBe("rejected");
    expect(await client.status("abc")).toEqual({ status: "pending" });
    expect(await client.certificateTransactions("A")).toBe("unsupported");
  });

  it("an unreachable registry makes status reads throw RegistryUnreachable", async () => {
    await expect(new HttpRegistry({ url: "http://127.0.0.1:1", timeoutMs: 500 }).status("abc")).rejects.toBeInstanceOf(RegistryUnreachable);
  });
});

describe("connector decisions", () => {
  const sentAt = new Date(1_000_000);
  const base = { pendingSeen: false, sentAt, deadlineAt: new Date(2_000_000) };
  it("commits on committed or finalized, fails only on failed", () => {
    expect(judge(base, { status: "finalized" }, { unknownGraceMs: 10 }, 1_000_001).kind).toBe("committed");
    expect(judge(base, { status: "failed", message: "no" }, { unknownGraceMs: 10 }, 1_000_001)).toEqual({ kind: "failed", message: "no" });
  });
  it("waits out unknown within the grace and an unreachable registry until the deadline; then indeterminate", () => {
    expect(judge(base, { status: "unknown" }, { unknownGraceMs: 10 }, 1_000_005).kind).toBe("wait");
    expect(judge(base, { status: "unknown" }, { unknownGraceMs: 10 }, 1_000_020).kind).toBe("indeterminate");
    expect(judge({ ...base, pendingSeen: true }, { status: "unknown" }, { unknownGraceMs: 10_000 }, 1_000_001).kind).toBe("indeterminate");
    expect(judge(base, undefined, { unknownGraceMs: 10 }, 1_500_000).kind).toBe("wait");
    expect(judge(base, undefined, { unknownGraceMs: 10 }, 2_000_000).kind).toBe("indeterminate");
    expect(judge(base, { status: "pending" }, { unknownGraceMs: 10 }, 2_000_000).kind).toBe("indeterminate");
  });
  it("asks at a steady pollMs for the first polls, then backs off to pollMaxMs", () => {
    expect([0, 1, 2, 3, 4, 5, 10].map((polls) => backoff(polls, { pollMs: 100, pollMaxMs: 1000 }))).toEqual([100, 100, 100, 100, 200, 400, 1000]);
  });
  it("reads Prefer: wait=N (at most 60) and no-queue", () => {
    expect(parsePrefer("wait=5, no-queue")).toEqual({ waitSeconds: 5, noQueue: true });
    expect(parsePrefer("wait=600")).toEqual({ waitSeconds: 60, noQueue: false });
    expect(parsePrefer(undefined)).toEqual({ waitSeconds: 0, noQueue: false });
  });
  it("replays a certificate's committed transactions into owner, status and version", () => {
    const bytes = (type: "issue" | "transfer" | "withdraw", payload: Record<string, unknown>, n: number) =>
      encodeTransaction({ header: { certificateId: "A", type, commandId: `c${n}`, nonce: `n${n}` }, payload }).bytes;
    const stream = {
      transactions: [
        { txId: "1", index: 0, bytes: bytes("issue", { certificateId: "A", quantityWh: 5, owner: "o" }, 1) },
        { txId: "2", index: 1, bytes: bytes("transfer", { to: "p" }, 2) },
        { txId: "3", index: 2, bytes: bytes("withdraw", { reason: "r" }, 3) },
      ],
    };
    expect(replay("A", stream)).toEqual({ owner: "p", status: "withdrawn", version: 3 });
  });
});
