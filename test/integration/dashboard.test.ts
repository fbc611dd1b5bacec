import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { createProducer, createSubscription, issued, publish } from "../support/fixtures.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";

// Debian's Chromium, never a downloaded browser (.ci/run installs it when missing).
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = "test-artifacts";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

let system: TestSystem;
let browser: Browser;
let page: Page;
let producer: string;

beforeAll(async () => {
  execFileSync(process.execPath, ["scripts/build.mjs", "ui"], { stdio: "ignore" });
  mkdirSync(ARTIFACTS, { recursive: true });
  system = await startTestSystem();
  producer = await createProducer(system.api);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await system?.destroy();
});

const text = (selector: string) => page.locator(selector).first().innerText();

describe("the dashboard in Chromium", () => {
  it("asks for the admin token, then shows a subscription whose pending count follows a publish", async () => {
    await createSubscription(system.api, { name: "dk1", filters: [{ types: ["certificate.*"], where: { gridArea: ["DK1"] } }] });
    await page.goto(`${system.url}/ui`);
    await page.fill("input[name=token]", ADMIN_TOKEN);
    await page.click("button[type=submit]");
    await eventually(async () => expect(await text("tr[data-subscription=dk1] td.pending .spark-value")).toBe("0"));

    await publish(system.api, producer, issued("GC-1"));
    await publish(system.api, producer, issued("GC-2"));
    await eventually(async () => expect(await text("tr[data-subscription=dk1] td.pending .spark-value")).toBe("2"));
    expect(await page.evaluate("sessionStorage.getItem(\"certflow.adminToken\")")).toBe(ADMIN_TOKEN);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-subscriptions.png`, fullPage: true });
  });

  it("opens a notification's trace tree", async () => {
    const root = await publish(system.api, producer, issued("GC-7"));
    const child = await publish(system.api, producer, issued("GC-8", {}, { parentId: root.id }));
    const grandchild = await publish(system.api, producer, issued("GC-9", {}, { parentId: child.id }));
    await page.fill("input[name=notification-id]", child.id);
    await page.click("#trace button[type=submit]");
    await eventually(async () => expect(await page.locator("#trace .tree .node").count()).toBe(3));
    expect(await text("#trace .tree .node.current")).toContain(child.id);
    // Drawn nested: the grandchild sits inside the child's branch, inside the root's.
    expect(await page.locator(`#trace .tree li li li:has-text("${grandchild.id}")`).count()).toBe(1);
    await page.locator("#trace").screenshot({ path: `${ARTIFACTS}/dashboard-trace.png` });
  });

  it("redrives a dead letter", async () => {
    const pulled = await system.api.get("/v1/subscriptions/dk1/messages?max=1&wait=5", ADMIN_TOKEN);
    await system.api.post("/v1/subscriptions/dk1/rejects", { ackIds: [pulled.body.messages[0].ackId] }, ADMIN_TOKEN);
    await page.click("tr[data-subscription=dk1] a");
    await eventually(async () => expect(await page.locator("#dead-letters tbody tr").count()).toBe(1));
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-dead-letters.png`, fullPage: true });
    await page.click("#dead-letters tbody tr button");
    await eventually(async () => expect(await text("#dead-letters .ok")).toBe("1 redriven"));
    const described = await system.api.get("/v1/subscriptions/dk1", ADMIN_TOKEN);
    expect(described.body.stats.deadLettered).toBe(0);
  });

  it("hides the panels whose endpoints this server does not have", async () => {
    const commands = await system.api.get("/v1/commands?state=failed", ADMIN_TOKEN);
    const cluster = await system.api.get("/v1/cluster", ADMIN_TOKEN);
    await eventually(async () => {
      expect(await page.locator("#commands").count()).toBe(commands.status === 404 ? 0 : 1);
      expect(await page.locator("#cluster").count()).toBe(cluster.status === 404 ? 0 : 1);
    });
    expect(await page.locator("#subscriptions").count()).toBe(1);
  });
});
