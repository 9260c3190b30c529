/**
 * Which parts of a file run far below their siblings, pure: fed the bytes each part in flight has received, at the
 * times they are looked at, it keeps a smoothed rate per part and names those whose rate stayed below the median of
 * the others divided by a factor for long enough. A CDN edge that caps one request (huggingface/xet-core#821: some
 * edges give ~8.7 MB/s where others give ~68) is left that way; the part is then asked again on a new connection.
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

/** Watches the parts of one file. */
export interface SlowParts<K> {
  /** Takes the parts in flight at time `now` (milliseconds) and returns those that stayed slow too long. */
  observe(now: number, parts: readonly PartSample<K>[]): K[];
}

/** Parts that must be in flight for one to be called slow: itself and two others to compare with. */
const MIN_PARTS = 3;

/** A {@link SlowParts} under `policy`. */
export function createSlowParts<K>(policy: SlowPolicy): SlowParts<K> {
  const seen = new Map<K, { at: number; received: number; rate: number | undefined; slowFor: number }>();
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
      }
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
    },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
