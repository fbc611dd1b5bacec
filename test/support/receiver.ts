import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  headers: Record<string, string>;
  body: string;
  receivedAt: number;
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | "hang";
export type ReplyFunction = (request: ReceivedRequest, index: number) => Reply | Promise<Reply>;

/** A real HTTP endpoint on loopback that records every request and answers as the test says. */
export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  reply: ReplyFunction;
  close(): Promise<void>;
}

export async function startReceiver(reply: ReplyFunction = () => ({ status: 204 })): Promise<Receiver> {
  const receiver: Receiver = { url: "", requests: [], reply, close: async () => {} };
  const hanging = new Set<() => void>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const received: ReceivedRequest = { headers: flatten(request.headers), body: Buffer.concat(chunks).toString("utf8"), receivedAt: Date.now() };
      receiver.requests.push(received);
      const answer = await receiver.reply(received, receiver.requests.length - 1);
      if (answer === "hang") {
        hanging.add(() => response.destroy());
        return;
      }
      response.writeHead(answer.status, answer.headers ?? {});
      response.end(answer.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.close = () =>
    new Promise((resolve) => {
      for (const end of hanging) end();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, Array.isArray(value) ? value.join(", ") : (value ?? "")]));
}
