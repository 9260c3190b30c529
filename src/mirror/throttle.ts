/**
 * Bandwidth limiting for the mirror: a token bucket (pure arithmetic over an injected clock) and a Transform stream
 * that paces whatever flows through it with one, and optionally with a second bucket that every stream shares (a
 * link: a CDN's few MB/s per connection and more in all).
 */
import { Transform, type TransformCallback } from 'node:stream';

/** A rate in bytes per second, or a getter for one so a running stream follows changes. `0` means unlimited. */
export type RateSource = number | (() => number);

/** Options of {@link createTokenBucket}. */
export interface TokenBucketOptions {
  /** Bytes per second; `0` (or negative) means unlimited. */
  readonly bytesPerSecond: RateSource;
  /**
   * Burst size in seconds of traffic at the current rate (default 0.05 s). Kept small on purpose: a bucket that
   * starts full with a second's worth would let a short response through at twice the rate.
   */
  readonly burstSeconds?: number;
  /** Clock in milliseconds (default `performance.now`); injected in tests. */
  readonly now?: () => number;
}

/** A token bucket where a reservation may overdraw the balance; the debt is what the caller waits out. */
export interface TokenBucket {
  /**
   * Reserve `bytes` and return how long to wait, in milliseconds, before sending them (0 = send now). Reservations
   * are granted in call order, so callers must send in that order too.
   */
  reserve(bytes: number): number;
  /** The largest slice, in bytes, worth sending at once at the current rate (at least 1; `Infinity` if unlimited). */
  sliceSize(): number;
}

/** Seconds of traffic the bucket holds when full, unless told otherwise. */
const DEFAULT_BURST_SECONDS = 0.05;

/** Create a token bucket. It starts full. */
export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const rateOf =
    typeof options.bytesPerSecond === 'function' ? options.bytesPerSecond : constant(options.bytesPerSecond);
  const now = options.now ?? (() => performance.now());
  const burstSeconds = options.burstSeconds ?? DEFAULT_BURST_SECONDS;
  const capacity = (rate: number): number => Math.max(1, rate * burstSeconds);
  let last = now();
  let tokens = capacity(rateOf());

  return {
    reserve(bytes) {
      const rate = rateOf();
      const t = now();
      if (!(rate > 0)) {
        // Unlimited now; start full if a limit comes back later rather than owing an old debt.
        last = t;
        tokens = Number.POSITIVE_INFINITY;
        return 0;
      }
      tokens = Math.min(capacity(rate), tokens + ((t - last) * rate) / 1000);
      last = t;
      tokens -= bytes;
      return tokens >= 0 ? 0 : (-tokens * 1000) / rate;
    },
    sliceSize() {
      const rate = rateOf();
      return rate > 0 ? Math.max(1, Math.floor(capacity(rate))) : Number.POSITIVE_INFINITY;
    },
  };
}

/** Options of {@link createThrottle}. */
export interface ThrottleOptions extends TokenBucketOptions {
  /** A bucket shared with other streams (a link all responses go through): bytes wait for both. */
  readonly shared?: TokenBucket;
}

/**
 * A pass-through Transform that releases bytes no faster than the rate. Chunks are split into slices of at most one
 * burst so the output is smooth; backpressure is the ordinary Transform kind (the next chunk is not accepted until
 * the reader has taken this one). Destroying the stream (client abort) clears the pending timer.
 */
export function createThrottle(options: ThrottleOptions): Transform {
  const own = createTokenBucket(options);
  const shared = options.shared;
  const bucket: TokenBucket =
    shared === undefined
      ? own
      : {
          reserve: (bytes) => Math.max(own.reserve(bytes), shared.reserve(bytes)),
          sliceSize: () => Math.min(own.sliceSize(), shared.sliceSize()),
        };
  let timer: NodeJS.Timeout | undefined;

  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      let offset = 0;
      const next = (): void => {
        timer = undefined;
        if (this.destroyed) return;
        while (offset < chunk.length) {
          const slice = chunk.subarray(offset, offset + Math.min(bucket.sliceSize(), chunk.length - offset));
          const wait = bucket.reserve(slice.length);
          offset += slice.length;
          if (wait > 0) {
            timer = setTimeout(() => {
              this.push(slice);
              next();
            }, Math.ceil(wait));
            return;
          }
          this.push(slice);
        }
        callback();
      };
      next();
    },
    destroy(error: Error | null, callback: (error: Error | null) => void) {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      callback(error);
    },
  });
}

function constant(value: number): () => number {
  return () => value;
}
