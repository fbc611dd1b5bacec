import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { Api } from "../support/api.js";
import { ADMIN_TOKEN, dropIsolation, isolation, type Isolation } from "../support/system.js";
import { issued, longPollsWaiting } from "../support/fixtures.js";
import { runToExit, startServiceProcess, type ServiceProcess } from "../support/process.js";

let running: ServiceProcess | undefined;
let iso: Isolation | undefined;

afterEach(async () => {
  if (running && running.child.exitCode === null) {
    running.child.kill("SIGKILL");
    await running.exited;
  }
  running = undefined;
  if (iso) await dropIsolation(iso);
  iso = undefined;
});

describe("start-up configuration", () => {
  it("stops with one clear line naming a missing variable", async () => {
    const { code, stdout, stderr } = await runToExit({ PORT: "0" });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^Invalid configuration: CERTFLOW_ADMIN_TOKEN is required/);
  });

  it("stops with one clear line naming an invalid variable", async () => {
    const { code, stderr } = await runToExit({ CERTFLOW_ADMIN_TOKEN: ADMIN_TOKEN, SERVICES: "producer,mailer" });
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(/^Invalid configuration: SERVICES expected a comma-separated list/);
  });

  it("says what to do when NATS cannot be reached", async () => {
    iso = isolation();
    const { code, stdout } = await runToExit({ ...iso.env, NATS_URL: "nats://127.0.0.1:1", LOG_LEVEL: "info" });
    expect(code).toBe(1);
    expect(stdout).toContain("cannot reach NATS at nats://127.0.0.1:1");
    expect(stdout).toContain("set NATS_URL");
  });

  it("says what to do when PostgreSQL cannot be reached, without the password", async () => {
    iso = isolation();
    const { code, stdout } = await runToExit({ ...iso.env, DATABASE_URL: "postgres://postgres:hunter2@127.0.0.1:1/certflow", LOG_LEVEL: "info" });
    expect(code).toBe(1);
    expect(stdout).toContain("cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:1/certflow");
    expect(stdout).toContain("set DATABASE_URL");
    expect(stdout).not.toContain("hunter2");
  });
});

describe("a running process", () => {
  it("logs JSON with request and notification ids and never a token; drains on SIGTERM and exits 0", async () => {
    iso = isolation();
    running = await startServiceProcess({ ...iso.env, LOG_LEVEL: "info" });
    const api = new Api(running.url);
    const producer = await api.post("/v1/producers", { name: "registry" }, ADMIN_TOKEN);
    const subscription = await api.post("/v1/subscriptions", { name: "s", filters: [{ types: ["*"] }] }, ADMIN_TOKEN);
    const accepted = await api.post("/v1/notifications", issued("c-1"), producer.body.token);
    expect(accepted.status).toBe(202);

    // A long-poll and a publish are in flight when the signal arrives.
    const token = subscription.body.token as string;
    await api.get("/v1/subscriptions/s/messages?wait=5", token);
    const polling = api.get("/v1/subscriptions/s/messages?wait=30", token);
    await eventually(async () => expect(await longPollsWaiting(api)).toBe(1));
    running.child.kill("SIGTERM");
    const answered = await polling;
    expect(answered.status).toBe(200);
    expect(answered.body).toEqual({ messages: [] });
    expect(await running.exited).toBe(0);

    const lines = running.logs;
    const accepting = lines.find((line) => line.msg === "notification accepted");
    expect(accepting).toMatchObject({ notificationId: accepted.body.id, requestId: expect.any(String), level: "info" });
    expect(lines.some((line) => line.msg === "request" && line.path === "/v1/notifications" && line.requestId)).toBe(true);
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(["shutting down", "stopped"]));
    const everything = JSON.stringify(lines);
    for (const secret of [ADMIN_TOKEN, producer.body.token, token]) expect(everything).not.toContain(secret);
  });

  it("runs a single service when SERVICES names it", async () => {
    iso = isolation();
    running = await startServiceProcess({ ...iso.env, SERVICES: "consumer" });
    const api = new Api(running.url);
    expect((await api.get("/v1/subscriptions", ADMIN_TOKEN)).status).toBe(200);
    // The producer API is not served by this process.
    expect((await api.post("/v1/producers", { name: "x" }, ADMIN_TOKEN)).status).toBe(404);
    expect(running.logs.find((line) => line.msg === "certflow started")).toMatchObject({ services: ["consumer"] });
  });
});
