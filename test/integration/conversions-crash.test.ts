import { afterEach, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { registryNotification } from "../../src/certificates/book/envelopes.js";
import { registerAnnual } from "../support/registry.js";
import { ADMIN_TOKEN, isolation, startTestSystem, type TestSystem } from "../support/system.js";

let system: TestSystem | undefined;

afterEach(async () => {
  await system?.destroy();
  system = undefined;
});

it("publishes at start-up what a crash left in the outbox: a committed change is never lost", async () => {
  const iso = isolation();
  const first = await startTestSystem({ isolation: iso });
  const certificate = await registerAnnual(first.api, ADMIN_TOKEN);
  await first.stop();

  // What a crash between commit and publish leaves: the change and its notification, committed, unpublished.
  const cancelled = registryNotification(
    { type: "certificate.cancelled", state: { ...stateOf(certificate), status: "cancelled", version: 2 }, time: new Date() },
    "test",
  );
  await first.db.transaction().execute(async (trx) => {
    await trx.updateTable("registry_certificates").set({ status: "cancelled", version: 2 }).where("certificate_id", "=", certificate.certificateId).execute();
    await trx.insertInto("registry_outbox").values({ id: cancelled.id, subject: cancelled.subject, envelope: JSON.stringify(cancelled) }).execute();
  });
  await first.db.destroy();

  system = await startTestSystem({ isolation: iso });
  const types = await eventually(async () => {
    const history = await system!.api.get(`/v1/certificates/${certificate.certificateId}/history`, ADMIN_TOKEN);
    const found: string[] = history.body.notifications.map((entry: { notification: { type: string; id: string } }) => entry.notification.type);
    expect(found.length).toBeGreaterThanOrEqual(2);
    return found;
  });
  expect(types).toEqual(["certificate.issued", "certificate.cancelled"]);
  const left = await system.db.selectFrom("registry_outbox").select("id").execute();
  expect(left).toEqual([]);
});

function stateOf(certificate: Record<string, any>) {
  const { certificateId, kind, deviceId, gridArea, energySource, periodStart, periodEnd, quantityWh, owner, status, version } = certificate;
  return { certificateId, kind, deviceId, gridArea, energySource, periodStart, periodEnd, quantityWh, owner, status, version };
}
