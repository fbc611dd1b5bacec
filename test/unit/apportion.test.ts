import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { apportion } from "../../src/certificates/conversions/apportion.js";
import { convert } from "../../src/certificates/conversions/compute.js";
import { hoursInYear, isLeapYear, yearPeriod } from "../../src/certificates/conversions/hours.js";

/** share * W - Q * w, exactly: |deviation| < W means the share is within 1 Wh of Q * w / W. */
function deviation(share: number, total: number, weight: number, sum: bigint): bigint {
  return BigInt(share) * sum - BigInt(total) * BigInt(weight);
}

function checkApportionment(total: number, weights: number[]) {
  const shares = apportion(total, weights);
  const sum = weights.reduce((acc, weight) => acc + BigInt(weight), 0n);
  expect(shares).toHaveLength(weights.length);
  const violations: string[] = [];
  let allocated = 0n;
  for (let hour = 0; hour < weights.length && violations.length < 5; hour++) {
    const share = shares[hour]!;
    if (!Number.isSafeInteger(share)) violations.push(`hour ${hour}: ${share} is not a whole number`);
    if (share < 0) violations.push(`hour ${hour}: ${share} is negative`);
    // Within 1 Wh of the exact proportional share: -W < share*W - Q*w < W.
    const off = deviation(share, total, weights[hour]!, sum);
    if (!(off > -sum && off < sum)) violations.push(`hour ${hour}: ${share} Wh is 1 Wh or more from ${total}*${weights[hour]}/${sum}`);
    if (weights[hour] === 0 && share !== 0) violations.push(`hour ${hour}: weight 0 got ${share}`);
    allocated += BigInt(share);
  }
  expect(violations).toEqual([]);
  expect(allocated).toBe(BigInt(total));
  return shares;
}

const weight = fc.oneof(
  fc.integer({ min: 0, max: 1000 }),
  fc.integer({ min: 0, max: 2 ** 31 }),
  fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER),
  fc.maxSafeNat(),
);
const total = fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.maxSafeNat(), fc.constant(Number.MAX_SAFE_INTEGER));
const profile = fc.array(weight, { minLength: 1, maxLength: 300 }).filter((weights) => weights.some((value) => value > 0));

describe("apportion (largest remainder, whole Wh)", () => {
  it("property: the hours sum to the total exactly, none is negative, each is within 1 Wh of its proportional share", () => {
    fc.assert(
      fc.property(total, profile, (quantity, weights) => {
        checkApportionment(quantity, weights);
      }),
      { numRuns: 1000 },
    );
  });

  it("property: the same holds for full years of 8,760 and 8,784 hours", () => {
    const yearProfile = fc
      .tuple(fc.constantFrom(8760, 8784), fc.integer({ min: 1, max: 2 ** 40 }), fc.integer())
      .map(([hours, scale, seed]) => {
        // Shaped like a production curve: zero at night, smooth by day, with noise from the seed.
        let state = seed >>> 0;
        return Array.from({ length: hours }, (_, hour) => {
          state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
          const daylight = Math.max(0, Math.sin(((hour % 24) - 6) * (Math.PI / 12)));
          return Math.round(daylight * (scale % 1_000_000) + (state % 7 === 0 ? state % 1000 : 0));
        });
      })
      .filter((weights) => weights.some((value) => value > 0));
    fc.assert(
      fc.property(total, yearProfile, (quantity, weights) => {
        checkApportionment(quantity, weights);
      }),
      { numRuns: 30 },
    );
  });

  it("property: the leftover units go to the largest remainders, ties to the earlier hour", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 50 }), (quantity, weights) => {
        fc.pre(weights.some((value) => value > 0));
        const shares = apportion(quantity, weights);
        const sum = weights.reduce((acc, value) => acc + value, 0);
        const remainder = (hour: number) => (quantity * weights[hour]!) % sum;
        const rounded = (hour: number) => shares[hour]! * sum > quantity * weights[hour]!;
        for (let up = 0; up < weights.length; up++) {
          if (!rounded(up)) continue;
          for (let down = 0; down < weights.length; down++) {
            if (rounded(down) || weights[down] === 0) continue;
            const [r1, r2] = [remainder(up), remainder(down)];
            expect(r1 > r2 || (r1 === r2 && up < down), `hour ${up} rounded up before hour ${down}`).toBe(true);
          }
        }
      }),
    );
  });

  it("splits a uniform profile evenly, the remainder to the first hours", () => {
    const shares = apportion(8760 * 3 + 5, new Array(8760).fill(1));
    expect([...shares.slice(0, 6)]).toEqual([4, 4, 4, 4, 4, 3]);
    expect(shares[8759]).toBe(3);
  });

  it("is exact where doubles are not: totals and weights near 2^53", () => {
    const shares = checkApportionment(Number.MAX_SAFE_INTEGER, [Number.MAX_SAFE_INTEGER, 1, Number.MAX_SAFE_INTEGER - 1]);
    expect(shares[1]).toBe(0);
    checkApportionment(9_007_199_254_740_000, [3, 3, 3]);
  });

  it("refuses an all-zero profile, negative or fractional weights, and no hours at all", () => {
    expect(() => apportion(100, [0, 0, 0])).toThrow(/must not all be zero/);
    expect(() => apportion(100, [1, -1])).toThrow(/weight 1/);
    expect(() => apportion(100, [1, 0.5])).toThrow(/weight 1/);
    expect(() => apportion(100, [])).toThrow(/at least one/);
    expect(() => apportion(-1, [1])).toThrow(/non-negative/);
  });
});

describe("years of UTC hours", () => {
  it("has 8,784 hours in a leap year and 8,760 otherwise", () => {
    expect(hoursInYear(2024)).toBe(8784);
    expect(hoursInYear(2025)).toBe(8760);
    expect(hoursInYear(2000)).toBe(8784);
    expect(hoursInYear(2100)).toBe(8760);
    expect([2024, 2028, 2000].every(isLeapYear)).toBe(true);
    expect([2025, 1900, 2100].some(isLeapYear)).toBe(false);
    for (const year of [2024, 2025]) {
      const { start, end } = yearPeriod(year);
      expect((end.getTime() - start.getTime()) / 3_600_000).toBe(hoursInYear(year));
    }
  });

  it("converts a leap year into 8,784 hourly quantities summing to the annual quantity", () => {
    const result = convert({ quantityWh: 1_234_567_891, hours: hoursInYear(2024), weightsWh: null });
    expect(result.quantitiesWh).toHaveLength(8784);
    expect(result.totalWh).toBe(1_234_567_891);
    expect(() => convert({ quantityWh: 10, hours: 8784, weightsWh: new Array(8760).fill(1) })).toThrow(/expected 8784 weights/);
  });
});
