/**
 * Throughput over time, pure: amounts (bytes, tokens) summed into one-second buckets, the last
 * {@link THROUGHPUT_SECONDS} kept, read back as a per-second series ending at any time (quiet seconds read 0).
 */

/** Seconds of history kept. */
export const THROUGHPUT_SECONDS = 120;

/** Amounts per second. */
export interface Throughput {
  /** `buckets[i]` is the amount in second `endSec - buckets.length + 1 + i` (seconds since the epoch). */
  readonly buckets: readonly number[];
  readonly endSec: number;
}

/** No history. */
export const NO_THROUGHPUT: Throughput = { buckets: [], endSec: 0 };

/** Adds `amount` at time `at` (ms since the epoch). Amounts older than the kept history are dropped. */
export function addThroughput(series: Throughput, at: number, amount: number): Throughput {
  if (!(amount > 0)) return series;
  const sec = Math.floor(at / 1000);
  if (series.buckets.length === 0) return { buckets: [amount], endSec: sec };
  if (sec <= series.endSec) {
    const index = series.buckets.length - 1 - (series.endSec - sec);
    if (index < 0) return series;
    const buckets = series.buckets.slice();
    buckets[index] = (buckets[index] ?? 0) + amount;
    return { buckets, endSec: series.endSec };
  }
  const gap = Math.min(sec - series.endSec, THROUGHPUT_SECONDS);
  const buckets = [...series.buckets, ...new Array<number>(gap - 1).fill(0), amount];
  return { buckets: buckets.slice(-THROUGHPUT_SECONDS), endSec: sec };
}

/** The last `length` whole seconds up to `now` (ms since the epoch), oldest first, per second. */
export function throughputSeries(series: Throughput, now: number, length: number): number[] {
  const out = new Array<number>(Math.max(0, length)).fill(0);
  const nowSec = Math.floor(now / 1000);
  for (let i = 0; i < series.buckets.length; i++) {
    const sec = series.endSec - series.buckets.length + 1 + i;
    const at = length - 1 - (nowSec - sec);
    if (at >= 0 && at < length) out[at] = series.buckets[i] ?? 0;
  }
  return out;
}

/** True when anything was recorded in the last `seconds` up to `now`. */
export function hasRecent(series: Throughput, now: number, seconds: number): boolean {
  return series.buckets.length > 0 && Math.floor(now / 1000) - series.endSec < seconds;
}

/** `download 4.12 MB/s · peak 5.00 MB/s`: the last whole second (the current one is still filling) and the peak. */
export function rateTitle(name: string, values: readonly number[], format: (v: number) => string): string {
  const last = values.length > 1 ? (values[values.length - 2] ?? 0) : (values[0] ?? 0);
  return `${name} ${format(last)} · peak ${format(Math.max(0, ...values))}`;
}

/** Values as whole percentages of their peak (all 0 when the peak is 0): what a sparkline is fed. */
export function toPercents(values: readonly number[]): number[] {
  const peak = Math.max(0, ...values);
  return values.map((v) => (peak > 0 ? Math.round((v / peak) * 100) : 0));
}
