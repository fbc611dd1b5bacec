import type { IncomingMessage, Server, ServerResponse } from "node:http";

/** Up to this much of a refused request's body is read and dropped to keep its connection usable; past it the connection closes. */
export const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * A request answered before its body was read in full (a 401, a 413, any refusal) still has the
 * rest of its body on the connection. Unless it is read, the next request on that keep-alive
 * connection is never parsed, and closing a socket with unread data resets it, which can cost
 * the client the answer itself. So once the answer is sent, what remains is read and dropped;
 * a body larger than DRAIN_LIMIT_BYTES or slower than DRAIN_TIMEOUT_MS ends the connection.
 */
export function drainUnreadBodies(server: Server): void {
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    response.once("finish", () => drain(request));
  });
}

function drain(request: IncomingMessage): void {
  if (request.complete || request.destroyed) return;
  let read = 0;
  const stop = () => {
    clearTimeout(timer);
    request.socket?.destroy();
  };
  const timer = setTimeout(stop, DRAIN_TIMEOUT_MS);
  timer.unref();
  // Whatever was reading the body (the request's web stream) is done with it and would pause it again.
  request.removeAllListeners("data");
  request.on("data", (chunk: Buffer) => {
    read += chunk.length;
    if (read > DRAIN_LIMIT_BYTES) stop();
  });
  request.once("end", () => clearTimeout(timer));
  request.once("error", () => clearTimeout(timer));
  request.resume();
}

/** Whether a refused request declares a body too large to be drained: its answer then says the connection closes. */
export function tooLargeToDrain(contentLength: string | undefined): boolean {
  return contentLength !== undefined && Number(contentLength) > DRAIN_LIMIT_BYTES;
}
