/**
 * Splits a whole number of watt-hours over hours in proportion to non-negative integer weights
 * (largest-remainder, or Hamilton, apportionment):
 *
 * - every hour gets floor(total * w / W) or one more, so it is within 1 Wh of its exact share;
 * - the leftover units go to the hours with the largest remainders, ties to the earlier hour;
 * - the shares sum to `total` exactly, and an hour of weight 0 gets 0.
 *
 * Exact for any total and weights up to 2^53: products that may exceed 2^53 are done in BigInt.
 */
export function apportion(totalWh: number, weights: ArrayLike<number>): Float64Array {
  if (!Number.isSafeInteger(totalWh) || totalWh < 0) throw new RangeError("the total must be a non-negative safe integer");
  const n = weights.length;
  if (n === 0) throw new RangeError("there must be at least one weight");
  let sum = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const weight = weights[i]!;
    if (!Number.isSafeInteger(weight) || weight < 0) throw new RangeError(`weight ${i} must be a non-negative safe integer`);
    sum += weight;
    if (weight > max) max = weight;
  }
  if (sum === 0) throw new RangeError("the weights must not all be zero");
  // Fast path: every product total*w and the sum W fit in a double exactly.
  if (sum <= Number.MAX_SAFE_INTEGER && (max === 0 || totalWh <= Math.floor(Number.MAX_SAFE_INTEGER / max))) {
    return apportionExact(totalWh, weights, sum);
  }
  return apportionBig(totalWh, weights);
}

function apportionExact(total: number, weights: ArrayLike<number>, sum: number): Float64Array {
  const n = weights.length;
  const shares = new Float64Array(n);
  const remainders = new Float64Array(n);
  let assigned = 0;
  for (let i = 0; i < n; i++) {
    const product = total * weights[i]!;
    const remainder = product % sum;
    const share = (product - remainder) / sum;
    shares[i] = share;
    remainders[i] = remainder;
    assigned += share;
  }
  distribute(shares, total - assigned, (a, b) => remainders[b]! - remainders[a]! || a - b, (i) => remainders[i]! > 0);
  return shares;
}

function apportionBig(total: number, weights: ArrayLike<number>): Float64Array {
  const n = weights.length;
  const bigTotal = BigInt(total);
  let sum = 0n;
  for (let i = 0; i < n; i++) sum += BigInt(weights[i]!);
  const shares = new Float64Array(n);
  const remainders: bigint[] = new Array(n);
  let assigned = 0;
  for (let i = 0; i < n; i++) {
    const product = bigTotal * BigInt(weights[i]!);
    const share = product / sum;
    remainders[i] = product % sum;
    shares[i] = Number(share);
    assigned += shares[i]!;
  }
  distribute(
    shares,
    total - assigned,
    (a, b) => (remainders[b]! > remainders[a]! ? 1 : remainders[b]! < remainders[a]! ? -1 : a - b),
    (i) => remainders[i]! > 0n,
  );
  return shares;
}

/** Gives one more unit to the `leftover` hours that come first in remainder order. */
function distribute(
  shares: Float64Array,
  leftover: number,
  byRemainder: (a: number, b: number) => number,
  hasRemainder: (i: number) => boolean,
): void {
  if (leftover === 0) return;
  const candidates: number[] = [];
  for (let i = 0; i < shares.length; i++) if (hasRemainder(i)) candidates.push(i);
  // sum(remainders) = leftover * W with every remainder < W, so more than `leftover` hours have one.
  candidates.sort(byRemainder);
  for (let k = 0; k < leftover; k++) shares[candidates[k]!]! += 1;
}
