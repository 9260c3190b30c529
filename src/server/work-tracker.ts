/**
 * Which models are generating right now, so that an unload, a reset or a shutdown can wait for the replies under way
 * instead of cutting them. It counts the manager's `hold`s (the chat route holds a model for each generation).
 */

import type { LoadManager } from './load-manager.js';

/** The generations under way, per model. */
export interface WorkTracker {
  /** The manager to give the routes: the same one, with every `hold` counted here. */
  readonly manager: LoadManager;
  /** Generations under way on `key`, or on every model when `key` is absent. */
  running(key?: string): number;
  /** Resolves true once nothing runs on `key` (every model when absent), false after `timeoutMs`. */
  idle(key: string | undefined, timeoutMs: number): Promise<boolean>;
}

/** Wraps `manager` to count its holds. */
export function trackGenerations(manager: LoadManager): WorkTracker {
  const counts = new Map<string, number>();
  const waiters = new Set<() => void>();
  const running = (key?: string): number =>
    key === undefined ? [...counts.values()].reduce((a, b) => a + b, 0) : (counts.get(key) ?? 0);
  const hold: LoadManager['hold'] = (key, keepMs) => {
    const release = manager.hold(key, keepMs);
    counts.set(key, running(key) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      const left = running(key) - 1;
      if (left > 0) counts.set(key, left);
      else counts.delete(key);
      for (const wake of [...waiters]) wake();
    };
  };
  return {
    manager: { ...manager, hold },
    running,
    idle(key, timeoutMs) {
      if (running(key) === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (result: boolean): void => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(result);
        };
        const check = (): void => {
          if (running(key) === 0) done(true);
        };
        const timer = setTimeout(() => done(false), timeoutMs);
        waiters.add(check);
      });
    },
  };
}
