import { describe, expect, it } from "vitest";
import { WakeHub } from "../../src/consumer/messages/wake-hub.js";
import type { Broker } from "../../src/mom/broker.js";

/** The broker's wake-ups, delivered by hand. */
function hubWithWakeUps() {
  let handler: (subscriptionId: string) => void = () => {};
  const broker = { onWake: (wake: (subscriptionId: string) => void) => ((handler = wake), () => {}) } as unknown as Broker;
  return { hub: new WakeHub(broker), wakeUp: (subscriptionId: string) => handler(subscriptionId) };
}

const FAR = () => Date.now() + 60_000;

/** Lets every callback a resolution queued run, so a waiter still unresolved afterwards was not woken. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

function track(promise: Promise<void>) {
  const state = { woken: false };
  void promise.then(() => (state.woken = true));
  return state;
}

describe("WakeHub", () => {
  it("wakes the longest waiting pull only; passing on wakes the next", async () => {
    const { hub, wakeUp } = hubWithWakeUps();
    const first = track(hub.wait("s", hub.generation("s"), FAR()));
    const second = track(hub.wait("s", hub.generation("s"), FAR()));
    const otherSubscription = track(hub.wait("t", hub.generation("t"), FAR()));

    wakeUp("s");
    await settled();
    expect([first.woken, second.woken, otherSubscription.woken]).toEqual([true, false, false]);

    hub.passOn("s");
    await settled();
    expect(second.woken).toBe(true);
    hub.close();
  });

  it("wakes every push pump on each wake-up, beside one pull", async () => {
    const { hub, wakeUp } = hubWithWakeUps();
    const pulls = [track(hub.wait("s", 0, FAR())), track(hub.wait("s", 0, FAR()))];
    const pump = track(hub.wait("s", 0, FAR(), undefined, true));

    wakeUp("s");
    await settled();
    expect([pump.woken, pulls[0]!.woken, pulls[1]!.woken]).toEqual([true, true, false]);
    hub.close();
  });

  it("returns at once from a wait that starts after a wake-up it has not seen", async () => {
    const { hub, wakeUp } = hubWithWakeUps();
    const seen = hub.generation("s");
    wakeUp("s");
    const late = track(hub.wait("s", seen, FAR()));
    await settled();
    expect(late.woken).toBe(true);
    hub.close();
  });

  it("leaves a pull whose client went away out of its turn", async () => {
    const { hub, wakeUp } = hubWithWakeUps();
    const gone = new AbortController();
    const left = track(hub.wait("s", 0, FAR(), gone.signal));
    const staying = track(hub.wait("s", 0, FAR()));
    gone.abort();
    await settled();
    expect(left.woken).toBe(true);

    wakeUp("s");
    await settled();
    expect(staying.woken).toBe(true);
    hub.close();
  });

  it("ends every wait at shutdown", async () => {
    const { hub } = hubWithWakeUps();
    const waits = [track(hub.wait("s", 0, FAR())), track(hub.wait("s", 0, FAR())), track(hub.wait("t", 0, FAR(), undefined, true))];
    hub.close();
    await settled();
    expect(waits.map((wait) => wait.woken)).toEqual([true, true, true]);
  });
});
