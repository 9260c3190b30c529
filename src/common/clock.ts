/**
 * The one time source of every loop in modeldeck (dashboard, client reconnects, server coalescing), injected so tests
 * can drive it by hand. Shared below every layer: it is not a wire fact, so it does not live in `protocol`.
 */

/** A handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** Wall-clock time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin that never go backwards (wall-clock steps do not move it), for measuring
   * intervals. Optional: a clock without it is read through {@link now} (see {@link monotonicNow}).
   */
  monotonicNow?(): number;
  /** Calls `fn` after `ms` milliseconds; the timer must not keep the process alive on its own. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@link Clock.setTimeout}; ignores handles already fired or cancelled. */
  clearTimeout(handle: TimerHandle): void;
}

/** `clock`'s monotonic time, or its wall-clock time when it has none (a test's hand-driven clock). */
export function monotonicNow(clock: Clock): number {
  return clock.monotonicNow?.() ?? clock.now();
}

/** The real clock: `Date.now`, `performance.now` and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicNow: () => performance.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
