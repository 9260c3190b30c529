/**
 * The rates of the parts of one file, pure: the one view both slow-part mechanisms of `file-parts.ts` read. Fed the
 * bytes each part in flight has received at the times they are looked at, it keeps a smoothed rate per part and the
 * best rate a part of the file has had, and names the parts whose rate stayed below the median of the others divided
 * by a factor for long enough (those are asked again on a new connection). The same rates decide which part an idle
 * connection takes the tail of, and how much of it. A CDN edge that caps one request (huggingface/xet-core#821: some
 * edges give ~8.7 MB/s where others give ~68) is left that way; its part is then asked again, or shared.
 */

/** When a part is too slow. */
export interface SlowPolicy {
  /** A part below the median of the others divided by this is slow (0: never). */
  readonly factor: number;
  /** A part must stay slow this long, in milliseconds, to be named. */
  readonly afterMs: number;
}

/** The bytes one part has received so far. */
export interface PartSample<K> {
  readonly key: K;
  readonly received: number;
}

/** The rates of the parts of one file. */
export interface PartRates<K> {
  /**
   * Takes the parts in flight at time `now` (milliseconds), updates their rates, forgets the parts no longer in
   * flight, and returns those that stayed slow too long (each named once per stretch of being slow).
   */
  observe(now: number, parts: readonly PartSample<K>[]): K[];
  /** The smoothed rate of a part in flight, in bytes per millisecond; `undefined` before its second look. */
  rate(key: K): number | undefined;
  /** The best smoothed rate a part of this file has had, in bytes per millisecond (0 before any). */
  best(): number;
}

/** Parts that must be in flight for one to be called slow: itself and two others to compare with. */
const MIN_PARTS = 3;

/** A part's rate counts towards the file's best once it has received this many bytes (its first burst is no rate). */
const BEST_AFTER_BYTES = 256 * 1024;

interface Seen {
  at: number;
  received: number;
  rate: number | undefined;
  slowFor: number;
}

/** A {@link PartRates} under `policy`. */
export function createPartRates<K>(policy: SlowPolicy): PartRates<K> {
  const seen = new Map<K, Seen>();
  let best = 0;
  return {
    observe(now, parts) {
      const present = new Set(parts.map((part) => part.key));
      for (const key of seen.keys()) if (!present.has(key)) seen.delete(key);
      const elapsed = new Map<K, number>();
      for (const { key, received } of parts) {
        const last = seen.get(key);
        if (last === undefined) {
          seen.set(key, { at: now, received, rate: undefined, slowFor: 0 });
          continue;
        }
        const dt = now - last.at;
        if (dt <= 0) continue;
        const rate = (received - last.received) / dt;
        // Smoothed over a few looks: one slow burst of a fast part is not a capped edge.
        last.rate = last.rate === undefined ? rate : (last.rate + rate) / 2;
        last.at = now;
        last.received = received;
        elapsed.set(key, dt);
        if (received >= BEST_AFTER_BYTES) best = Math.max(best, last.rate);
      }
      return slowOnes(policy, seen, elapsed);
    },
    rate: (key) => seen.get(key)?.rate,
    best: () => best,
  };
}

/** The parts that have now stayed below the others' median over the factor for `afterMs`. */
function slowOnes<K>(policy: SlowPolicy, seen: Map<K, Seen>, elapsed: Map<K, number>): K[] {
  if (!(policy.factor > 0)) return [];
  const rated = [...seen.entries()].filter(([, entry]) => entry.rate !== undefined);
  if (rated.length < MIN_PARTS) return [];
  const slow: K[] = [];
  for (const [key, entry] of rated) {
    const others = rated.filter(([other]) => other !== key).map(([, other]) => other.rate as number);
    const threshold = median(others) / policy.factor;
    if ((entry.rate as number) < threshold) entry.slowFor += elapsed.get(key) ?? 0;
    else entry.slowFor = 0;
    if (entry.slowFor >= policy.afterMs) {
      entry.slowFor = 0;
      slow.push(key);
    }
  }
  return slow;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
