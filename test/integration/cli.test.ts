import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { issued } from "../support/fixtures.js";
import { cancelledAnnual } from "../support/registry.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem;
let dir: string;

beforeAll(async () => {
  system = await startTestSystem();
  dir = mkdtempSync(join(tmpdir(), "certflow-cli-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await system.destroy();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `certflow` binary (bin/certflow.mjs) as its own process, asynchronously: the server runs in this one. */
function certflow(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["bin/certflow.mjs", ...args],
      { env: { PATH: process.env.PATH ?? "", CERTFLOW_URL: system.url, CERTFLOW_TOKEN: ADMIN_TOKEN, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe("the certflow CLI", () => {
  let producerToken: string;

  it("creates, lists and describes subscriptions, in text and --json", async () => {
    const created = await certflow(["subscriptions", "create", "dk1", "--type", "certificate.*", "--where", "gridArea=DK1"]);
    expect(created).toMatchObject({ code: 0 });
    expect(created.stdout).toMatch(/subscription dk1 \(pull\)\ntoken: cfs_/);

    const listed = await certflow(["subscriptions", "list", "--json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: "dk1", status: "active" })]);

    const described = await certflow(["subscriptions", "describe", "dk1"]);
    expect(described.stdout).toMatch(/pending:\s+0/);
    producerToken = (await certflow(["producers", "create", "registry-dk"])).stdout.trim();
    expect(producerToken).toMatch(/^cfp_/);
  });

  it("publishes a file with a progress bar and a summary; exit 4 when some items are refused", async () => {
    const lines = ["GC-1", "GC-2", "GC-3"].map((id) => JSON.stringify(issued(id, { gridArea: "DK1" })));
    lines.push(JSON.stringify(issued("GC-4", { quantityWh: -1 })));
    const file = join(dir, "notifications.ndjson");
    writeFileSync(file, `${lines.join("\n")}\n`);
    const run = await certflow(["publish", file, "--batch", "2"], { CERTFLOW_TOKEN: producerToken });
    expect(run.code).toBe(4);
    expect(run.stdout).toContain("3 accepted, 0 duplicate, 1 refused");
    expect(run.stdout).toContain("#3: data.quantityWh: must not be negative");
    expect(run.stderr).toMatch(/publishing .* 100% 4\/4/);

    const array = join(dir, "notifications.json");
    writeFileSync(array, JSON.stringify([JSON.parse(lines[0]!)]));
    const again = await certflow(["publish", array, "--json"], { CERTFLOW_TOKEN: producerToken });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ accepted: 1, duplicate: 0, refused: 0 });
  });

  it("tails a subscription: pulls, prints and acks", async () => {
    const run = await certflow(["tail", "dk1", "--count", "2", "--wait", "5"]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(/^\d+\tlive\tcertificate\.issued\tGC-1\t/),
      expect.stringMatching(/^\d+\tlive\tcertificate\.issued\tGC-2\t/),
    ]);
    await eventually(async () => expect(JSON.parse((await certflow(["subscriptions", "describe", "dk1", "--json"])).stdout).stats.acked).toBe(2));
  });

  it("prints a trace tree", async () => {
    const root = (await system.api.post("/v1/notifications", issued("GC-7"), producerToken)).body.id;
    const child = (await system.api.post("/v1/notifications", issued("GC-8", {}, { parentId: root }), producerToken)).body.id;
    const run = await certflow(["trace", root]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`certificate.issued  GC-7  ${root}   ◀`);
    expect(run.stdout).toContain(`└─ certificate.issued  GC-8  ${child}`);
  });

  it("lists and redrives dead letters", async () => {
    const pulled = await system.api.get("/v1/subscriptions/dk1/messages?max=1&wait=5", ADMIN_TOKEN);
    await system.api.post("/v1/subscriptions/dk1/rejects", { ackIds: [pulled.body.messages[0].ackId] }, ADMIN_TOKEN);
    const listed = await certflow(["dead-letters", "list", "dk1"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/rejected\s+1\s+certificate\.issued\s+GC-3/);
    const redriven = await certflow(["dead-letters", "redrive", "dk1"]);
    expect(redriven).toMatchObject({ code: 0, stdout: "1 dead letters back in the queue\n" });
  });

  it("submits a CSV conversion and follows its progress to the end", async () => {
    const certificate = await cancelledAnnual(system.api, ADMIN_TOKEN, { year: 2025 });
    const start = Date.parse("2025-01-01T00:00:00Z");
    const rows = Array.from({ length: 8760 }, (_, hour) => `${new Date(start + hour * 3_600_000).toISOString()},${hour % 24 < 12 ? 2 : 1}`);
    const file = join(dir, "profile.csv");
    writeFileSync(file, `timestamp,kWh\n${rows.join("\n")}\n`);
    const run = await certflow(["convert", certificate.certificateId, file]);
    expect(run.stderr).toMatch(/converting .* 100%/);
    expect(run).toMatchObject({ code: 0 });
    expect(run.stdout).toMatch(/^conversion [0-9a-f-]+ done: 8760 hourly certificates, validation passed\n$/);
  });

  it("says clearly when the server has no registry commands (exit 5)", async () => {
    const run = await certflow(["commands", "--state", "failed"]);
    if (run.code === 0) return expect(run.stdout.length).toBeGreaterThan(0); // a server with the registry connector
    expect(run.code).toBe(5);
    expect(run.stderr).toContain("has no registry commands (GET /v1/commands answered 404)");
  });

  it("exits 1 on usage errors, 2 when the API refuses, 3 when certflow is unreachable", async () => {
    expect((await certflow(["nonsense"])).code).toBe(1);
    expect((await certflow(["subscriptions", "list"], { CERTFLOW_TOKEN: "" })).stderr).toContain("set CERTFLOW_TOKEN");
    const refused = await certflow(["subscriptions", "describe", "nobody"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/404 not_found: .*\(request [0-9a-f-]+\)/);
    const unreachable = await certflow(["subscriptions", "list"], { CERTFLOW_URL: "http://127.0.0.1:1" });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain("cannot reach certflow at http://127.0.0.1:1");
  });
});
