import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN, startTestSystem, type TestSystem } from "../support/system.js";
import { createProducer, unique } from "../support/fixtures.js";
import { cancelledAnnual, registerAnnual, requestConversion, waitForConversion, WAIT } from "../support/registry.js";

// Trades are sagas over registry commands; one test converts a year first.
vi.setConfig({ testTimeout: 240_000 });

let system: TestSystem;
let producer: string;

beforeAll(async () => {
  system = await startTestSystem();
  producer = await createProducer(system.api, "registry");
});
afterAll(() => system.destroy());

/** Posts a trade and waits for its outcome (201 completed, 422 failed). */
const postTrade = (body: unknown, token: string) => system.api.request("POST", "/v1/trades", { token, body, headers: WAIT });

async function transfers(certificateId: string, expected: number): Promise<any[]> {
  return eventually(async () => {
    const response = await system.api.get(`/v1/certificates/${certificateId}/history`, ADMIN_TOKEN);
    const found = response.body.notifications.map((entry: { notification: any }) => entry.notification).filter((n: any) => n.type === "certificate.transferred");
    expect(found.length).toBeGreaterThanOrEqual(expected);
    return found;
  });
}

describe("POST /v1/trades", () => {
  it("moves every certificate to the buyer, bumps versions, records the trade and publishes certificate.transferred", async () => {
    const seller = unique("seller");
    const certificates = [
      await registerAnnual(system.api, producer, { owner: seller, quantityWh: 2_000_000 }),
      await registerAnnual(system.api, producer, { owner: seller, quantityWh: 3_000_000 }),
    ];
    const ids = certificates.map((certificate) => certificate.certificateId);
    const response = await postTrade({ seller, buyer: "buyer-b", certificateIds: ids, pricePerMwh: 42.5 }, producer);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body).toMatchObject({
      seller,
      buyer: "buyer-b",
      pricePerMwh: 42.5,
      certificateCount: 2,
      quantityWh: 5_000_000,
      mwh: 5,
      totalPrice: 212.5,
      requestedBy: "registry",
    });
    expect(response.body.certificates).toEqual(
      ids.map((certificateId, index) => ({ certificateId, quantityWh: certificates[index]!.quantityWh, previousOwner: seller, version: 2 })),
    );
    const tradeId = response.body.id as string;
    for (const id of ids) {
      expect((await system.api.get(`/v1/certificates/${id}`, producer)).body).toMatchObject({ owner: "buyer-b", version: 2, status: "active" });
      const [transferred] = await transfers(id, 1);
      expect(transferred).toMatchObject({
        parentId: expect.any(String),
        correlationId: tradeId,
        data: { owner: "buyer-b", previousOwner: seller, tradeId, version: 2 },
      });
    }
    expect((await system.api.get(`/v1/trades/${tradeId}`, producer)).body).toEqual(response.body);
    const history = await system.api.get(`/v1/certificates/${ids[0]}/trades`, producer);
    expect(history.body.data).toMatchObject([{ previousOwner: seller, newOwner: "buyer-b", version: 2, trade: { id: tradeId } }]);
    const bySeller = await system.api.get(`/v1/trades?owner=${seller}`, producer);
    expect(bySeller.body.data.map((trade: { id: string }) => trade.id)).toEqual([tradeId]);
    expect((await system.api.get(`/v1/trades?certificateId=${ids[1]}`, producer)).body.data).toHaveLength(1);
  });

  it("moves none when one certificate is missing (404), foreign (409) or not active (409)", async () => {
    const seller = unique("seller");
    const mine = await registerAnnual(system.api, producer, { owner: seller });
    const theirs = await registerAnnual(system.api, producer, { owner: "someone-else" });
    const cancelled = await cancelledAnnual(system.api, producer, { owner: seller });
    const missing = await postTrade({ seller, buyer: "b", certificateIds: [mine.certificateId, "no-such-certificate"] }, producer);
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toContain("no-such-certificate");
    const foreign = await postTrade({ seller, buyer: "b", certificateIds: [mine.certificateId, theirs.certificateId] }, producer);
    expect(foreign.status).toBe(409);
    expect(foreign.body.detail).toContain(`${theirs.certificateId} (owned by someone-else)`);
    const inactive = await postTrade({ seller, buyer: "b", certificateIds: [cancelled.certificateId, mine.certificateId] }, producer);
    expect(inactive.status).toBe(409);
    expect(inactive.body.detail).toContain("is cancelled");
    expect((await system.api.get(`/v1/certificates/${mine.certificateId}`, producer)).body).toMatchObject({ owner: seller, version: 1 });
    expect((await system.api.get(`/v1/trades?owner=${seller}`, producer)).body.data).toEqual([]);
    expect((await postTrade({ seller, buyer: seller, certificateIds: [mine.certificateId] }, producer)).status).toBe(400);
    expect((await postTrade({ seller, buyer: "b", certificateIds: [] }, producer)).status).toBe(400);
    const twice = await postTrade({ seller, buyer: "b", certificateIds: [mine.certificateId, mine.certificateId] }, producer);
    expect(twice.status).toBe(400);
    expect((await system.api.get("/v1/trades/01a20090-0000-7000-8000-0000000000ff", producer)).status).toBe(404);
  });

  it("answers a retried trade id with the first trade (200), another trade under it with 409", async () => {
    const seller = unique("seller");
    const certificate = await registerAnnual(system.api, producer, { owner: seller });
    const body = { id: "01a20090-0000-7000-8000-0000000000aa", seller, buyer: "b", certificateIds: [certificate.certificateId] };
    expect((await postTrade(body, producer)).status).toBe(201);
    const again = await postTrade(body, producer);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(body.id);
    expect((await postTrade({ ...body, buyer: "c" }, producer)).status).toBe(409);
    expect((await system.api.get(`/v1/certificates/${certificate.certificateId}`, producer)).body).toMatchObject({ owner: "b", version: 2 });
  });

  it("trades hourly certificates of a finished conversion", async () => {
    const owner = unique("owner");
    const annual = await cancelledAnnual(system.api, producer, { owner, quantityWh: 8760 * 1000 });
    await waitForConversion(system.api, producer, await requestConversion(system.api, producer, { annualCertificateId: annual.certificateId, profile: { kind: "uniform" } }));
    const hours = Array.from({ length: 24 }, (_, hour) => `${annual.certificateId}-h${String(hour).padStart(4, "0")}`);
    const response = await postTrade({ seller: owner, buyer: "night-buyer", certificateIds: hours, pricePerMwh: 80 }, producer);
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ certificateCount: 24, quantityWh: 24_000, totalPrice: 1.92 });
    const bought = await system.api.get(`/v1/certificates?owner=night-buyer&parentCertificateId=${annual.certificateId}&limit=100`, producer);
    expect(bought.body.data).toHaveLength(24);
    const validation = await system.api.get(`/v1/certificates/${annual.certificateId}/validation`, producer);
    expect(validation.body.valid).toBe(true);
  });
});

describe("concurrent trades", () => {
  it("50 concurrent trades on overlapping certificates: each certificate has one owner and a consistent history", async () => {
    const owners = [unique("a"), unique("b"), unique("c")];
    const certificates: string[] = [];
    for (let index = 0; index < 24; index++) {
      certificates.push((await registerAnnual(system.api, producer, { owner: owners[index % 3], quantityWh: 1_000_000 + index })).certificateId);
    }
    // Deterministic pseudo-random overlapping picks: mostly the seller's own certificates (so trades
    // race for them), sometimes one from anywhere (which may have moved to the seller meanwhile).
    let seed = 7;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    const attempts = Array.from({ length: 50 }, () => {
      const sellerIndex = random(3);
      const seller = owners[sellerIndex]!;
      const own = certificates.filter((_, index) => index % 3 === sellerIndex);
      const picked = new Set<string>();
      const size = 1 + random(3);
      while (picked.size < size) picked.add(own[random(own.length)]!);
      if (random(10) < 3) picked.add(certificates[random(certificates.length)]!);
      const buyer = owners.filter((owner) => owner !== seller)[random(2)]!;
      return { seller, buyer, certificateIds: [...picked], pricePerMwh: 10 + random(50) };
    });
    const responses = await Promise.all(attempts.map((body) => postTrade(body, producer)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.every((status) => status === 201 || status === 409), JSON.stringify(statuses)).toBe(true);
    const won = responses.filter((response) => response.status === 201).map((response) => response.body);
    expect(won.length).toBeGreaterThan(0);
    expect(won.length).toBeLessThan(50);
    for (const response of responses.filter((r) => r.status === 409)) expect(response.body.code).toBe("conflict");

    // Replay the winning trades in commit order (per certificate, by version): each must start where the last left off.
    for (const [index, certificateId] of certificates.entries()) {
      const current = (await system.api.get(`/v1/certificates/${certificateId}`, producer)).body;
      const history = (await system.api.get(`/v1/certificates/${certificateId}/trades?limit=500`, producer)).body.data as any[];
      let owner = owners[index % 3];
      history.forEach((entry, position) => {
        expect(entry.version, "versions count the trades").toBe(position + 2);
        expect(entry.previousOwner, `${certificateId} sold by its owner at the time`).toBe(owner);
        expect(entry.trade.seller).toBe(owner);
        owner = entry.newOwner;
      });
      expect(current.owner, `${certificateId}: the owner is where its history leads`).toBe(owner);
      expect(current.version).toBe(history.length + 1);
      const [row] = (await sql<{ owners: number }>`SELECT count(DISTINCT owner)::int AS owners FROM registry_certificates WHERE certificate_id = ${certificateId}`.execute(system.db)).rows;
      expect(row!.owners).toBe(1);
      // The notifications tell the same story, once each, in version order.
      const published = await transfers(certificateId, history.length);
      expect(published.map((n: any) => [n.data.previousOwner, n.data.owner, n.data.version])).toEqual(
        history.map((entry) => [entry.previousOwner, entry.newOwner, entry.version]),
      );
    }
    // All or none: a winning trade moved every certificate it named; a refused one moved none.
    for (const [index, response] of responses.entries()) {
      if (response.status !== 201) continue;
      const detail = (await system.api.get(`/v1/trades/${response.body.id}`, producer)).body;
      expect(detail.certificates.map((c: { certificateId: string }) => c.certificateId).sort()).toEqual([...attempts[index]!.certificateIds].sort());
      expect(detail.certificates.every((c: { previousOwner: string }) => c.previousOwner === attempts[index]!.seller)).toBe(true);
    }
    const traded = await sql<{ count: number }>`SELECT count(*)::int AS count FROM trade_certificates WHERE certificate_id = ANY(${certificates}::text[])`.execute(system.db);
    expect(traded.rows[0]!.count).toBe(won.reduce((sum, trade) => sum + trade.certificateCount, 0));
  });
});

describe("GET /v1/statistics", () => {
  it("counts certificates by kind, status and source, conversions and trades", async () => {
    const before = (await system.api.get("/v1/statistics", producer)).body;
    const owner = unique("stats");
    const solar = await registerAnnual(system.api, producer, { owner, energySource: "solar-stats", quantityWh: 3_000_000 });
    const annual = await cancelledAnnual(system.api, producer, { owner, energySource: "solar-stats", quantityWh: 8_760_000 });
    await waitForConversion(system.api, producer, await requestConversion(system.api, producer, { annualCertificateId: annual.certificateId, profile: { kind: "uniform" } }));
    await postTrade({ seller: owner, buyer: "x", certificateIds: [solar.certificateId], pricePerMwh: 30 }, producer);
    await postTrade({ seller: owner, buyer: "x", certificateIds: [`${annual.certificateId}-h0000`], pricePerMwh: 60 }, producer);

    const after = (await system.api.get("/v1/statistics", producer)).body;
    const source = after.certificates.byEnergySource.find((entry: { energySource: string }) => entry.energySource === "solar-stats");
    expect(source).toEqual({ energySource: "solar-stats", count: 2 + 8760, quantityWh: 3_000_000 + 2 * 8_760_000, mwh: 20.52 });
    const kind = (stats: any, name: string) => stats.certificates.byKind.find((entry: { kind: string }) => entry.kind === name)?.count ?? 0;
    expect(kind(after, "hourly") - kind(before, "hourly")).toBe(8760);
    expect(kind(after, "annual") - kind(before, "annual")).toBe(2);
    expect(after.certificates.count - before.certificates.count).toBe(8762);
    expect(after.certificates.byStatus.map((entry: { status: string }) => entry.status)).toContain("cancelled");
    expect(after.conversions.byStatus.done - before.conversions.byStatus.done).toBe(1);
    expect(after.conversions.successRate).toBeGreaterThan(0);
    expect(after.conversions.meanDurationMs).toBeGreaterThanOrEqual(0);
    expect(after.trades.count - before.trades.count).toBe(2);
    expect(after.trades.quantityWh - before.trades.quantityWh).toBe(3_000_000 + 1000);
    expect(after.trades.mwh).toBeCloseTo(after.trades.quantityWh / 1e6, 9);
    expect(after.trades.meanPricePerMwh).toBeGreaterThan(0);
  });
});
