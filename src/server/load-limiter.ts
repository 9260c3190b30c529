/**
 * A cap on loads running at once. Each load starts a worker thread that imports ONNX Runtime and builds a session:
 * dozens at once share the machine's cores with the event loop, and `/health` waits for a core (60 loads from the
 * disk cache on 2 cores: p99 815 ms). Past the cap a load waits its turn, first come first served; its subscribers'
 * stream stays open (heartbeats) and its first event arrives when it starts.
 */

import { SHUTTING_DOWN_CODE } from '../protocol/errors.js';
import { LoadError, type ModelLoader } from './loader-types.js';

/** The default cap of `modeldeck serve --max-loads`. */
export const DEFAULT_MAX_LOADS = 2;

/** `loader`, with at most `max` of its loads running at once (0: no cap). */
export function limitConcurrentLoads(loader: ModelLoader, max: number): ModelLoader {
  if (max <= 0) return loader;
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
        // Loads are aborted only when the server stops (see ModelLoader.load).
        reject(new LoadError(SHUTTING_DOWN_CODE, 'the server is shutting down'));
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      waiting.push(go);
    });
  return {
    ...loader,
    async load(ref, onEvent, signal, options) {
      await turn(signal);
      try {
        return await loader.load(ref, onEvent, signal, options);
      } finally {
        next();
      }
    },
    listCached: () => loader.listCached(),
  };
}
