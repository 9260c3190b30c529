/**
 * A small seeded PRNG (mulberry32) for filler weights. Deterministic across runs and platforms, unlike Math.random,
 * so two generations of a demo model are byte-identical.
 */

/** Returns a generator of floats uniformly distributed in [0, 1), fully determined by `seed` (a 32-bit integer). */
export function createPrng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
