import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { createProducer } from "../support/fixtures.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

/**
 * Refused requests on a keep-alive connection, spoken over a raw socket so nothing between the
 * test and the server reads a body or opens a new connection behind its back.
 */
let system: TestSystem;
let producer: string;

beforeAll(async () => {
  system = await startTestSystem();
  producer = await createProducer(system.api);
});
afterAll(() => system.destroy());

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One socket: sends what it is given, and parses the responses that come back on it. */
class RawConnection {
  private readonly socket: Socket;
  private buffer = Buffer.alloc(0);
  readonly responses: RawResponse[] = [];
  closed = false;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    // A write into a connection the server has closed fails; what it answered before still counts.
    this.socket.on("error", () => undefined);
    this.socket.on("close", () => (this.closed = true));
  }

  /** Writes and does not wait: the server may answer before it has read everything. */
  send(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  sendRequest(head: string, body?: Buffer, chunked = false): void {
    this.send(head);
    if (!body) return;
    if (!chunked) return this.send(body);
    for (let offset = 0; offset < body.length; offset += 64 * 1024) {
      const part = body.subarray(offset, offset + 64 * 1024);
      this.send(`${part.length.toString(16)}\r\n`);
      this.send(part);
      this.send("\r\n");
    }
    this.send("0\r\n\r\n");
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): void {
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end === -1) return;
      const [statusLine, ...lines] = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
      );
      const length = Number(headers["content-length"] ?? 0);
      if (this.buffer.length < end + 4 + length) return;
      this.responses.push({
        status: Number(statusLine!.split(" ")[1]),
        headers,
        body: this.buffer.subarray(end + 4, end + 4 + length).toString("utf8"),
      });
      this.buffer = this.buffer.subarray(end + 4 + length);
    }
  }
}

const healthz = "GET /healthz HTTP/1.1\r\nHost: certflow\r\n\r\n";

function post(path: string, options: { token?: string; length?: number; chunked?: boolean }): string {
  const lines = [`POST ${path} HTTP/1.1`, "Host: certflow", "Content-Type: application/json"];
  if (options.token) lines.push(`Authorization: Bearer ${options.token}`);
  lines.push(options.chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${options.length}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** A refused request either leaves the connection usable (the next request is answered) or says it closes it. */
async function expectRefusedThenAnswered(connection: RawConnection, status: number): Promise<void> {
  const first = await eventually(() => connection.responses[0] ?? false, { what: "the refusal" });
  expect(first.status).toBe(status);
  expect(first.headers["content-type"]).toContain("application/problem+json");
  expect(JSON.parse(first.body).code).toEqual(expect.any(String));
  if (first.headers.connection?.toLowerCase() === "close") {
    await eventually(() => connection.closed, { what: "the announced close" });
    return;
  }
  connection.send(healthz);
  const next = await eventually(() => connection.responses.find((response, index) => index > 0 && response.status === 200) ?? false, {
    what: "an answer to the next request on the same connection",
  });
  expect(JSON.parse(next.body)).toEqual({ status: "ok" });
}

describe("refused requests on a keep-alive connection", () => {
  const body = (bytes: number) => Buffer.alloc(bytes, "a");

  it.each([false, true])("answers the next request after a 401 with an unread 1 MB body (chunked: %s)", async (chunked) => {
    const connection = new RawConnection(Number(new URL(system.url).port));
    try {
      connection.sendRequest(post("/v1/notifications", { length: 1024 * 1024, chunked }), body(1024 * 1024), chunked);
      await expectRefusedThenAnswered(connection, 401);
    } finally {
      connection.close();
    }
  });

  it.each([false, true])("answers a body over the limit with 413, not a reset (chunked: %s)", async (chunked) => {
    const connection = new RawConnection(Number(new URL(system.url).port));
    try {
      const size = 17 * 1024 * 1024;
      connection.sendRequest(post("/v1/notifications/batch", { token: producer, length: size, chunked }), body(size), chunked);
      await expectRefusedThenAnswered(connection, 413);
    } finally {
      connection.close();
    }
  });

  it("answers the next request after a 400 whose body was read", async () => {
    const connection = new RawConnection(Number(new URL(system.url).port));
    try {
      const json = Buffer.from(JSON.stringify({ notifications: "not a list" }));
      connection.sendRequest(post("/v1/notifications/batch", { token: producer, length: json.length }), json);
      await expectRefusedThenAnswered(connection, 400);
      expect(connection.responses[0]!.headers.connection?.toLowerCase()).not.toBe("close");
    } finally {
      connection.close();
    }
  });
});
