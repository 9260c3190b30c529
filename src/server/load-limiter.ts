/**
 * A cap on loads running at once. Each load starts a worker thread that imports ONNX Runtime and builds a session:
 * dozens at once share the machine's cores with the event loop, and `/health` waits for a core (60 loads from the
 * disk cache on 2 cores: p99 815 ms). Past the cap a load waits its turn, first come first served; its subscribers'
 * stream stays open (heartbeats) and its first event arrives when it starts.
 */

import { SHUTTING_DOWN_CODE } from '../protocol/errors.js';
import { LoadError } from './loader-types.js';

/** The default cap of `modeldeck serve --max-loads`. */
export const DEFAULT_MAX_LOADS = 2;

/** The slots of `--max-loads`. */
export interface LoadLimiter {
  /**
   * Runs `task` in a slot: at once when one is free (synchronously when there is no cap), else when every load that
   * asked before has had its turn. A load whose `signal` fires while it waits leaves the line and rejects with
   * `ABORTED` (loads are aborted only when the server stops or the load is cancelled).
   */
  run<T>(signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T>;
  /** Loads running in a slot. */
  readonly running: number;
  /** Loads waiting for a slot. */
  readonly waiting: number;
}

/** Creates the slots of at most `max` loads running at once (0: no cap). */
export function createLoadLimiter(max: number): LoadLimiter {
  let running = 0;
  const waiting: (() => void)[] = [];
  const next = (): void => {
    running--;
    waiting.shift()?.();
  };
  const turn = (signal: AbortSignal | undefined): Promise<void> =>
    new Promise((resolve, reject) => {
      if (running < max) {
        running++;
        return resolve();
      }
      const go = (): void => {
        signal?.removeEventListener('abort', abort);
        running++;
        resolve();
      };
      const abort = (): void => {
        const i = waiting.indexOf(go);
        if (i >= 0) waiting.splice(i, 1);
        reject(new LoadError(SHUTTING_DOWN_CODE, 'the server is shutting down'));
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      waiting.push(go);
    });
  const inTurn = async <T>(signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T> => {
    await turn(signal);
    try {
      return await task();
    } finally {
      next();
    }
  };
  return {
    run: (signal, task) => (max <= 0 ? task() : inTurn(signal, task)),
    get running() {
      return running;
    },
    get waiting() {
      return waiting.length;
    },
  };
}
