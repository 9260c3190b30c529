import type { Clock } from '../../src/common/clock.js';

/** A {@link Clock} that moves only when the test says so. */
export interface FakeClock extends Clock {
  /** Moves time on by `ms`, firing each timer that falls due on the way, in order of due time. */
  advance(ms: number): void;
  /** Timers armed and not yet fired or cleared. */
  pending(): number;
}

/** Creates a {@link FakeClock} at time 0 (its wall and monotonic time are the same). */
export function fakeClock(): FakeClock {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 1;
  return {
    now: () => now,
    monotonicNow: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout(id) {
      timers = timers.filter((x) => x.id !== id);
    },
    pending: () => timers.length,
    advance(ms) {
      const target = now + ms;
      for (;;) {
        const due = timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((x) => x !== due);
        now = Math.max(now, due.at);
        due.fn();
      }
      now = target;
    },
  };
}
