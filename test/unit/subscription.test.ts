import { describe, expect, it } from "vitest";
import {
  CreateSubscriptionSchema,
  fingerprint,
  leaseTarget,
  specOf,
  toSpec,
  UpdateSubscriptionSchema,
  type Prefill,
  type Subscription,
  type SubscriptionSpec,
} from "../../src/consumer/subscriptions/subscription.js";

function spec(overrides: Partial<SubscriptionSpec> = {}): SubscriptionSpec {
  return {
    name: "grid-operator",
    description: null,
    filters: [{ types: ["certificate.issued"], where: { gridArea: ["DK1"], owner: ["owner-a"] } }],
    prefill: false,
    delivery: { mode: "pull" },
    ackTimeoutSeconds: 30,
    maxDeliveries: 5,
    ...overrides,
  };
}

function subscription(startSeq: number, prefill: Partial<Prefill> = {}): Subscription {
  return {
    ...spec(),
    id: "sub-1",
    fingerprint: fingerprint(spec()),
    status: "active",
    statusReason: null,
    startSeq,
    failingSince: null,
    prefillState: { enabled: false, status: "done", total: 0, sent: 0, position: null, error: null, ...prefill },
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };
}

describe("fingerprint", () => {
  it("is a hex SHA-256", () => {
    expect(fingerprint(spec())).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is equal for equal specs whatever the order of object keys", () => {
    const reordered: SubscriptionSpec = {
      maxDeliveries: 5,
      ackTimeoutSeconds: 30,
      delivery: { mode: "pull" },
      prefill: false,
      filters: [{ where: { owner: ["owner-a"], gridArea: ["DK1"] }, types: ["certificate.issued"] }],
      description: null,
      name: "grid-operator",
    };
    expect(fingerprint(reordered)).toBe(fingerprint(spec()));
  });

  it("ignores keys whose value is undefined", () => {
    const withUndefined = spec({ filters: [{ types: ["certificate.issued"], where: undefined }] });
    expect(fingerprint(withUndefined)).toBe(fingerprint(spec({ filters: [{ types: ["certificate.issued"] }] })));
  });

  it("differs when a filter type differs", () => {
    const other = spec({ filters: [{ types: ["certificate.claimed"], where: { gridArea: ["DK1"], owner: ["owner-a"] } }] });
    expect(fingerprint(other)).not.toBe(fingerprint(spec()));
  });

  it("differs when a where value differs", () => {
    const other = spec({ filters: [{ types: ["certificate.issued"], where: { gridArea: ["DK2"], owner: ["owner-a"] } }] });
    expect(fingerprint(other)).not.toBe(fingerprint(spec()));
  });

  it("differs when a filter is added", () => {
    const other = spec({ filters: [...spec().filters, { types: ["*"] }] });
    expect(fingerprint(other)).not.toBe(fingerprint(spec()));
  });

  it.each<[string, Partial<SubscriptionSpec>]>([
    ["name", { name: "other" }],
    ["description", { description: "text" }],
    ["prefill", { prefill: true }],
    ["ackTimeoutSeconds", { ackTimeoutSeconds: 31 }],
    ["maxDeliveries", { maxDeliveries: 6 }],
  ])("differs when %s differs", (_field, change) => {
    expect(fingerprint(spec(change))).not.toBe(fingerprint(spec()));
  });

  it("tells a null description from an empty one", () => {
    expect(fingerprint(spec({ description: "" }))).not.toBe(fingerprint(spec({ description: null })));
  });
});

describe("toSpec / specOf", () => {
  it("applies the defaults to a parsed create request", () => {
    const request = CreateSubscriptionSchema.parse({ name: "s-1", filters: [{ types: ["*"] }] });
    expect(toSpec(request, { ackTimeoutSeconds: 30, maxDeliveries: 5 })).toEqual({
      name: "s-1",
      description: null,
      filters: [{ types: ["*"] }],
      prefill: false,
      delivery: { mode: "pull" },
      ackTimeoutSeconds: 30,
      maxDeliveries: 5,
    });
  });

  it("keeps explicit values over the defaults", () => {
    const request = CreateSubscriptionSchema.parse({
      name: "s-1",
      description: "d",
      filters: [{ types: ["*"] }],
      prefill: true,
      ackTimeoutSeconds: 60,
      maxDeliveries: 9,
    });
    expect(toSpec(request, { ackTimeoutSeconds: 30, maxDeliveries: 5 })).toMatchObject({
      description: "d",
      prefill: true,
      ackTimeoutSeconds: 60,
      maxDeliveries: 9,
    });
  });

  it("gives a subscription the fingerprint of the spec it was made from", () => {
    expect(fingerprint(specOf(subscription(1)))).toBe(fingerprint(spec()));
  });
});

describe("CreateSubscriptionSchema / UpdateSubscriptionSchema", () => {
  it.each(["", "-leading-dash", "has space", "x".repeat(65)])("refuses the subscription name %j", (name) => {
    const result = CreateSubscriptionSchema.safeParse({ name, filters: [{ types: ["*"] }] });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path).toEqual(["name"]);
  });

  it("refuses a delivery mode other than pull", () => {
    const result = CreateSubscriptionSchema.safeParse({ name: "s", filters: [{ types: ["*"] }], delivery: { mode: "push" } });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path[0]).toBe("delivery");
  });

  it("refuses an empty update", () => {
    expect(UpdateSubscriptionSchema.safeParse({}).success).toBe(false);
    expect(UpdateSubscriptionSchema.safeParse({ status: "paused" }).success).toBe(true);
  });
});

describe("leaseTarget", () => {
  it("copies the id and delivery settings of the subscription", () => {
    expect(leaseTarget(subscription(10))).toEqual({ id: "sub-1", ackTimeoutSeconds: 30, maxDeliveries: 5, liveFromSeq: 10 });
  });

  it("delivers live messages from startSeq when prefill is off", () => {
    expect(leaseTarget(subscription(42)).liveFromSeq).toBe(42);
  });

  it("ignores the prefill status and position when prefill is off", () => {
    expect(leaseTarget(subscription(42, { enabled: false, status: "pending", position: 100 })).liveFromSeq).toBe(42);
  });

  it.each(["pending", "running"] as const)("holds live messages back while prefill is %s", (status) => {
    expect(leaseTarget(subscription(42, { enabled: true, status, position: 10 })).liveFromSeq).toBeNull();
  });

  it("starts after the snapshot position once prefill is done", () => {
    expect(leaseTarget(subscription(5, { enabled: true, status: "done", position: 100 })).liveFromSeq).toBe(101);
  });

  it("never starts before startSeq, even when the snapshot position is older", () => {
    expect(leaseTarget(subscription(500, { enabled: true, status: "done", position: 100 })).liveFromSeq).toBe(500);
  });

  it("starts from max(startSeq, 1) when a done prefill has no position", () => {
    expect(leaseTarget(subscription(0, { enabled: true, status: "done", position: null })).liveFromSeq).toBe(1);
    expect(leaseTarget(subscription(7, { enabled: true, status: "done", position: null })).liveFromSeq).toBe(7);
  });
});
