/**
 * The main thread's side of one model worker (`model-worker.ts`): spawning it, request/response over its port
 * (with progress and text along the way), and its careful shutdown. It knows nothing of loads or of HTTP.
 */

import type { Worker } from 'node:worker_threads';

import { LoadError, type ModelRef } from './loader-types.js';
import { startOwnThread } from './thread-options.js';
import { createWorkerCalls, type WorkerCalls } from './worker-calls.js';
import type { ModelWorkerData, WorkerReply, WorkerRequest, WorkerResult } from './worker-messages.js';

/** The main thread's side of one model worker. */
export interface ModelWorkerHandle {
  /**
   * Sends a request and resolves when the worker answers it. Rejects with an `Error` when the worker reports a
   * failure or dies, and with an ABORTED {@link LoadError} when `signal` fires (the caller then closes it).
   */
  call(
    request: DistributiveOmit<Exclude<WorkerRequest, { type: 'close' }>, 'id'>,
    signal?: AbortSignal,
    onProgress?: (current: number, total: number) => void,
    onText?: (text: string) => void,
  ): Promise<WorkerResult | undefined>;
  /**
   * Stops the worker: pending calls reject at once, a running generation stops at its next token, and the thread is
   * terminated once the worker says no native call is in flight (see the `close` request). Idempotent.
   */
  close(): Promise<void>;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

let liveWorkers = 0;

/**
 * Model worker threads of this process that were spawned and have not exited (each holds one model's memory).
 * @internal A test hook: tests prove a cancelled or unloaded model's worker is gone.
 */
export function modelWorkerCount(): number {
  return liveWorkers;
}

/** Spawns the worker thread of `ref`'s model. */
export function spawnModelWorker(ref: ModelRef, data: ModelWorkerData): ModelWorkerHandle {
  // `.ts` under tap's TypeScript loader (which the worker inherits), `.js` from the compiled dist/.
  const file = new URL(`./model-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  const worker = startOwnThread(file, { workerData: data });
  liveWorkers += 1;
  const calls = createWorkerCalls(worker);
  let exited = false;
  let closing: Promise<void> | undefined;
  worker.on('message', (reply: WorkerReply) => calls.deliver(reply));
  worker.on('error', (error) =>
    calls.failAll(new Error(`the model worker of ${ref.key} crashed: ${error.message}`, { cause: error })),
  );
  worker.on('exit', (code) => {
    exited = true;
    liveWorkers -= 1;
    calls.failAll(new Error(`the model worker of ${ref.key} exited (code ${code})`));
  });

  return {
    call(request, signal, onProgress, onText) {
      if (calls.dead !== undefined) return Promise.reject(calls.dead);
      if (signal?.aborted === true) return Promise.reject(abortedError(ref, signal));
      return new Promise<WorkerResult | undefined>((resolve, reject) => {
        const flag = request.type === 'generate' ? new Int32Array(request.abort) : undefined;
        if (flag !== undefined) calls.track(flag);
        const settle =
          <T>(fn: (value: T) => void) =>
          (value: T): void => {
            signal?.removeEventListener('abort', onAbort);
            if (flag !== undefined) calls.untrack(flag);
            fn(value);
          };
        const id = calls.open({ resolve: settle(resolve), reject: settle(reject), onProgress, onText });
        const onAbort = (): void => {
          calls.forget(id);
          reject(abortedError(ref, signal));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        worker.postMessage({ ...request, id } as WorkerRequest);
      });
    },
    close() {
      closing ??= closeWorker(worker, calls, ref, !exited);
      return closing;
    },
  };
}

/**
 * Stops a worker: its generations stop at their next token, pending calls reject at once, and the thread is
 * terminated once a worker still `alive` has answered the `close` request (no native call is in flight then).
 */
async function closeWorker(worker: Worker, calls: WorkerCalls, ref: ModelRef, alive: boolean): Promise<void> {
  calls.raiseFlags();
  calls.failAll(new Error(`the model ${ref.key} was unloaded`));
  if (alive) {
    // Kept alive until it has answered: a process exiting under a busy worker is terminating it too.
    worker.ref();
    await new Promise<void>((resolve) => {
      const id = calls.open({ resolve: () => resolve(), reject: () => resolve() });
      worker.once('exit', () => resolve());
      worker.postMessage({ type: 'close', id } satisfies WorkerRequest);
    });
  }
  await worker.terminate();
}

export function abortedError(ref: ModelRef, signal: AbortSignal | undefined): LoadError {
  return new LoadError('ABORTED', `loading ${ref.key} was aborted`, { cause: signal?.reason });
}
