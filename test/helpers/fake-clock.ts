// The one fake clock of the tests: time moves only when a test says so, and timers fire in order of due time, each
// seeing `now()` at its own due time.
import type { Clock, TimerHandle } from '../../src/common/clock.js';

/** A {@link Clock} driven by hand. */
export interface FakeClock extends Clock {
  /** Moves time on by `ms`, firing each timer that falls due on the way (timers set by a timer included). */
  advance(ms: number): void;
  /** Timers set and not yet fired or cancelled. */
  pending(): number;
}

/** A fake clock starting at `start` milliseconds since the epoch (default 0). */
export function createFakeClock(start = 0): FakeClock {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { due: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms): TimerHandle {
      const id = ++seq;
      timers.set(id, { due: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    pending: () => timers.size,
    advance(ms) {
      const target = now + ms;
      for (;;) {
        let next: [number, { due: number; fn: () => void }] | undefined;
        // Ties fire in the order they were set (Map iteration order, strict `<`).
        for (const entry of timers)
          if (entry[1].due <= target && (next === undefined || entry[1].due < next[1].due)) next = entry;
        if (next === undefined) break;
        timers.delete(next[0]);
        now = next[1].due;
        next[1].fn();
      }
      now = target;
    },
  };
}
