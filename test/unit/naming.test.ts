import { describe, expect, it } from "vitest";
import { naming, partitionOf } from "../../src/mom/naming.js";

describe("partitionOf", () => {
  it("returns the same partition for the same key every time", () => {
    for (const key of ["cert-1", "cert-2", "", "ÆØÅ-✓", "a".repeat(500)]) {
      expect(partitionOf(key, 8)).toBe(partitionOf(key, 8));
    }
  });

  it("is the FNV-1a hash of the key modulo the partition count", () => {
    // FNV-1a 32-bit of "" is the offset basis 0x811c9dc5; of "a" it is 0xe40c292c.
    expect(partitionOf("", 2 ** 32)).toBe(0x811c9dc5);
    expect(partitionOf("a", 2 ** 32)).toBe(0xe40c292c);
    expect(partitionOf("a", 7)).toBe(0xe40c292c % 7);
  });

  it("stays within [0, partitions) for many keys and partition counts", () => {
    const outOfRange: Array<[string, number, number]> = [];
    for (const partitions of [1, 2, 3, 8, 100, 256]) {
      for (let index = 0; index < 2000; index++) {
        const key = `certificate-${index}`;
        const partition = partitionOf(key, partitions);
        if (!Number.isInteger(partition) || partition < 0 || partition >= partitions) outOfRange.push([key, partitions, partition]);
      }
    }
    expect(outOfRange).toEqual([]);
  });

  it("puts every key in partition 0 when there is one partition", () => {
    expect(partitionOf("anything", 1)).toBe(0);
  });

  it("spreads distinct keys over every partition", () => {
    const seen = new Set<number>();
    for (let index = 0; index < 1000; index++) seen.add(partitionOf(`cert-${index}`, 8));
    expect(seen.size).toBe(8);
  });
});

describe("naming", () => {
  const names = naming("ns1");

  it("keeps the namespace", () => {
    expect(names.namespace).toBe("ns1");
  });

  it("prefixes the stream, subjects and filters with the namespace", () => {
    expect(names.notificationsStream).toBe("ns1_NOTIFICATIONS");
    expect(names.notificationsFilter).toBe("ns1.notifications.*");
    expect(names.notificationSubject(3)).toBe("ns1.notifications.3");
    expect(names.wakeSubject("sub-9")).toBe("ns1.wake.sub-9");
    expect(names.wakeFilter).toBe("ns1.wake.*");
  });

  it("gives different namespaces disjoint names", () => {
    const other = naming("ns2");
    expect(other.notificationsStream).not.toBe(names.notificationsStream);
    expect(other.notificationSubject(0)).not.toBe(names.notificationSubject(0));
    expect(other.wakeSubject("s")).not.toBe(names.wakeSubject("s"));
  });
});
