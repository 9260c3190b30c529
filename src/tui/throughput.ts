/**
 * Throughput over time, pure: amounts (bytes, tokens) summed into one-second buckets, the last
 * {@link THROUGHPUT_SECONDS} kept, read back as a per-second series ending at any time (quiet seconds read 0).
 *
 * An amount measured over an interval (the bytes between two progress samples, the tokens between two streamed
 * pieces) is spread over the seconds that interval covers, and each second also keeps how many of its milliseconds
 * were measured. A second's rate is then its amount over its measured time, so a transfer of 0.6 s reads at its real
 * speed rather than as 0.6 s worth of bytes per second; and any average over the same samples (their amounts over
 * their time) is a weighted mean of those rates, so it is never above their peak. A rate needs a window of at least
 * {@link MIN_RATE_WINDOW_MS}: a second measured for less shows its amount per whole second.
 */

/** Seconds of history kept. */
export const THROUGHPUT_SECONDS = 120;

/** The shortest window a rate is computed over, in ms: shorter ones say nothing (18,000 tok/s over 1 ms). */
export const MIN_RATE_WINDOW_MS = 100;

/** Amounts per second. */
export interface Throughput {
  /** `buckets[i]` is the amount in second `endSec - buckets.length + 1 + i` (seconds since the epoch). */
  readonly buckets: readonly number[];
  /** `covered[i]`: the milliseconds of that second over which its amount was measured (0 for a point amount). */
  readonly covered: readonly number[];
  readonly endSec: number;
}

/** No history. */
export const NO_THROUGHPUT: Throughput = { buckets: [], covered: [], endSec: 0 };

/** Adds `amount` (and `cover` measured ms) to second `sec`; amounts older than the kept history are dropped. */
function bump(series: Throughput, sec: number, amount: number, cover: number): Throughput {
  if (series.buckets.length === 0) return { buckets: [amount], covered: [cover], endSec: sec };
  if (sec <= series.endSec) {
    const index = series.buckets.length - 1 - (series.endSec - sec);
    if (index < 0) return series;
    const buckets = series.buckets.slice();
    const covered = series.covered.slice();
    buckets[index] = (buckets[index] ?? 0) + amount;
    covered[index] = Math.min(1000, (covered[index] ?? 0) + cover);
    return { buckets, covered, endSec: series.endSec };
  }
  const gap = Math.min(sec - series.endSec, THROUGHPUT_SECONDS);
  const zeros = new Array<number>(gap - 1).fill(0);
  return {
    buckets: [...series.buckets, ...zeros, amount].slice(-THROUGHPUT_SECONDS),
    covered: [...series.covered, ...zeros, cover].slice(-THROUGHPUT_SECONDS),
    endSec: sec,
  };
}

/** Adds `amount` at time `at` (ms since the epoch), measured over no interval. */
export function addThroughput(series: Throughput, at: number, amount: number): Throughput {
  if (!(amount > 0)) return series;
  return bump(series, Math.floor(at / 1000), amount, 0);
}

/**
 * Adds `amount`, measured between `from` and `to` (ms since the epoch), spread over the seconds in between in
 * proportion to their share of it; with `covers` (the default) those milliseconds count as measured. An amount of 0
 * still marks the time as measured (a stall is a rate of 0, not a gap). A reversed or empty interval is a point.
 */
export function addSpan(series: Throughput, from: number, to: number, amount: number, covers = true): Throughput {
  if (!(amount >= 0)) return series;
  if (!(to > from)) return amount > 0 ? bump(series, Math.floor(to / 1000), amount, 0) : series;
  let out = series;
  for (let sec = Math.floor(from / 1000); sec <= Math.floor(to / 1000); sec++) {
    const overlap = Math.min(to, (sec + 1) * 1000) - Math.max(from, sec * 1000);
    if (overlap <= 0) continue;
    out = bump(out, sec, (amount * overlap) / (to - from), covers ? overlap : 0);
  }
  return out;
}

/** A second's rate per second: its amount over its measured time, or its amount when measured too briefly. */
function rateOf(amount: number, covered: number): number {
  return covered >= MIN_RATE_WINDOW_MS ? (amount * 1000) / covered : amount;
}

/** The buckets whose seconds fall in the `length` whole seconds up to `now`, with their place there. */
function window(series: Throughput, now: number, length: number): { at: number; amount: number; covered: number }[] {
  const nowSec = Math.floor(now / 1000);
  const out: { at: number; amount: number; covered: number }[] = [];
  for (let i = 0; i < series.buckets.length; i++) {
    const sec = series.endSec - series.buckets.length + 1 + i;
    const at = length - 1 - (nowSec - sec);
    if (at >= 0 && at < length) out.push({ at, amount: series.buckets[i] ?? 0, covered: series.covered[i] ?? 0 });
  }
  return out;
}

/** The last `length` whole seconds up to `now` (ms since the epoch), oldest first, per second. */
export function throughputSeries(series: Throughput, now: number, length: number): number[] {
  const out = new Array<number>(Math.max(0, length)).fill(0);
  for (const bucket of window(series, now, length)) out[bucket.at] = rateOf(bucket.amount, bucket.covered);
  return out;
}

/**
 * The peak rate of those seconds: the highest second, and never below the rate of the whole window (its amounts
 * over its measured time), which is itself a window at least {@link MIN_RATE_WINDOW_MS} long.
 */
export function throughputPeak(series: Throughput, now: number, length: number): number {
  let amount = 0;
  let covered = 0;
  let peak = 0;
  for (const bucket of window(series, now, length)) {
    amount += bucket.amount;
    covered += bucket.covered;
    peak = Math.max(peak, rateOf(bucket.amount, bucket.covered));
  }
  return covered >= MIN_RATE_WINDOW_MS ? Math.max(peak, (amount * 1000) / covered) : peak;
}

/** True when some second of the last `length` up to `now` has an amount: a chart of them would move. */
export function movesWithin(series: Throughput, now: number, length: number): boolean {
  return window(series, now, length).some((bucket) => bucket.amount > 0);
}

/**
 * `download 4.12 MB/s · peak 5.00 MB/s`: the last whole second (the current one is still filling) and the peak
 * (given, else the highest value).
 */
export function rateTitle(
  name: string,
  values: readonly number[],
  format: (v: number) => string,
  peak?: number,
): string {
  const last = values.length > 1 ? (values[values.length - 2] ?? 0) : (values[0] ?? 0);
  return `${name} ${format(last)} · peak ${format(peak ?? Math.max(0, ...values))}`;
}

/** Values as whole percentages of their peak (all 0 when the peak is 0): what a sparkline is fed. */
export function toPercents(values: readonly number[]): number[] {
  const peak = Math.max(0, ...values);
  return values.map((v) => (peak > 0 ? Math.round((v / peak) * 100) : 0));
}
