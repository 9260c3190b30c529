/**
 * The time source the dashboard's loops use, injected so tests can drive them by hand.
 */

/** A handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** Wall-clock time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; the timer must not keep the process alive on its own. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@link Clock.setTimeout}; ignores handles already fired or cancelled. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now` and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
