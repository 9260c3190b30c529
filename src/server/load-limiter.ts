/**
 * A cap on loads running at once. Each load starts a worker thread that imports ONNX Runtime and builds a session:
 * dozens at once share the machine's cores with the event loop, and `/health` waits for a core (60 loads from the
 * disk cache on 2 cores: p99 815 ms). Past the cap a load waits its turn, first come first served; it is told where
 * it stands when it starts to wait and whenever that changes (its subscribers get a `queued` event), and its stream
 * stays open (heartbeats).
 */

import { SHUTTING_DOWN_CODE } from '../protocol/errors.js';
import { LoadError } from './loader-types.js';

/** The default cap of `modeldeck serve --max-loads`. */
export const DEFAULT_MAX_LOADS = 2;

/** Where a load waiting for a slot stands. */
export interface SlotPlace {
  /** 1 is next. */
  readonly position: number;
  /** The loads running, each in a slot, by label, in the order they started. */
  readonly running: readonly string[];
}

/** The slots of `--max-loads`. */
export interface LoadLimiter {
  /**
   * Runs `task` in a slot: at once when one is free (synchronously when there is no cap), else when every load that
   * asked before has had its turn. `label` names the load to those that wait behind it (its model key). A load that
   * must wait is told its place at once, synchronously, and again whenever it changes. A load whose `signal` fires
   * while it waits leaves the line and rejects with the signal's reason when it is a {@link LoadError}, else
   * `ABORTED` (loads are aborted only when the server stops or the load is cancelled).
   */
  run<T>(
    label: string,
    signal: AbortSignal | undefined,
    onWait: (place: SlotPlace) => void,
    task: () => Promise<T>,
  ): Promise<T>;
  /** Loads running in a slot. */
  readonly running: number;
  /** Loads waiting for a slot. */
  readonly waiting: number;
}

interface Waiter {
  readonly label: string;
  readonly go: () => void;
  readonly onWait: (place: SlotPlace) => void;
}

/** Creates the slots of at most `max` loads running at once (0: no cap). */
export function createLoadLimiter(max: number): LoadLimiter {
  const running: string[] = [];
  const waiting: Waiter[] = [];
  // Every waiter hears its place; a listener that throws must not keep the line from moving.
  const tell = (): void => {
    waiting.forEach((waiter, i) => {
      try {
        waiter.onWait({ position: i + 1, running: [...running] });
      } catch {
        // The load's own listener failed; it still waits its turn.
      }
    });
  };
  const leave = (label: string): void => {
    running.splice(running.indexOf(label), 1);
    waiting.shift()?.go();
    tell();
  };
  const turn = (label: string, signal: AbortSignal | undefined, onWait: Waiter['onWait']): Promise<void> =>
    new Promise((resolve, reject) => {
      if (running.length < max && waiting.length === 0) {
        running.push(label);
        return resolve();
      }
      const waiter: Waiter = {
        label,
        onWait,
        go: () => {
          signal?.removeEventListener('abort', abort);
          running.push(label);
          resolve();
        },
      };
      const abort = (): void => {
        const i = waiting.indexOf(waiter);
        if (i >= 0) waiting.splice(i, 1);
        reject(abortReason(signal));
        tell();
      };
      if (signal?.aborted) return reject(abortReason(signal));
      signal?.addEventListener('abort', abort, { once: true });
      waiting.push(waiter);
      onWait({ position: waiting.length, running: [...running] });
    });
  const inTurn = async <T>(
    label: string,
    signal: AbortSignal | undefined,
    onWait: Waiter['onWait'],
    task: () => Promise<T>,
  ): Promise<T> => {
    await turn(label, signal, onWait);
    try {
      return await task();
    } finally {
      leave(label);
    }
  };
  return {
    run: (label, signal, onWait, task) => (max <= 0 ? task() : inTurn(label, signal, onWait, task)),
    get running() {
      return running.length;
    },
    get waiting() {
      return waiting.length;
    },
  };
}

/** Why a wait was given up: the signal's own {@link LoadError} (a cancellation), else the server is stopping. */
export function abortReason(signal: AbortSignal | undefined): LoadError {
  const reason: unknown = signal?.reason;
  return reason instanceof LoadError ? reason : new LoadError(SHUTTING_DOWN_CODE, 'the server is shutting down');
}
