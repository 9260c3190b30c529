/**
 * The main thread's side of one model worker (`model-worker.ts`): spawning it, request/response over its port
 * (with progress and text along the way), and its careful shutdown. It knows nothing of loads or of HTTP.
 */

import { Worker } from 'node:worker_threads';

import { LoadError, type ModelRef } from './loader-types.js';
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

interface PendingCall {
  resolve(result: WorkerResult | undefined): void;
  reject(error: Error): void;
  onProgress?: ((current: number, total: number) => void) | undefined;
  onText?: ((text: string) => void) | undefined;
}

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
  const worker = new Worker(
    new URL(`./model-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
    { workerData: data },
  );
  liveWorkers += 1;
  const pending = new Map<number, PendingCall>();
  // Abort flags of the generations in flight, raised on close.
  const generationFlags = new Set<Int32Array>();
  let nextId = 1;
  let dead: Error | undefined;
  let exited = false;
  let closing: Promise<void> | undefined;
  // An idle model must not keep the process alive on its own; a call in flight must.
  const updateRef = (): void => {
    if (pending.size > 0) worker.ref();
    else worker.unref();
  };
  updateRef();

  const failAll = (error: Error): void => {
    dead ??= error;
    for (const call of pending.values()) call.reject(dead);
    pending.clear();
  };
  worker.on('message', (reply: WorkerReply) => {
    const call = pending.get(reply.id);
    if (call === undefined) return;
    switch (reply.type) {
      case 'progress':
        call.onProgress?.(reply.current, reply.total);
        return;
      case 'text':
        call.onText?.(reply.text);
        return;
      case 'done':
        pending.delete(reply.id);
        updateRef();
        call.resolve(reply.result);
        return;
      case 'failed':
        pending.delete(reply.id);
        updateRef();
        call.reject(Object.assign(new Error(reply.message), reply.code === undefined ? {} : { code: reply.code }));
        return;
      default: {
        const never: never = reply;
        throw new Error(`unknown worker reply ${JSON.stringify(never)}`);
      }
    }
  });
  worker.on('error', (error) =>
    failAll(new Error(`the model worker of ${ref.key} crashed: ${error.message}`, { cause: error })),
  );
  worker.on('exit', (code) => {
    exited = true;
    liveWorkers -= 1;
    failAll(new Error(`the model worker of ${ref.key} exited (code ${code})`));
  });

  return {
    call(request, signal, onProgress, onText) {
      if (dead !== undefined) return Promise.reject(dead);
      if (signal?.aborted === true) return Promise.reject(abortedError(ref, signal));
      const id = nextId;
      nextId += 1;
      return new Promise<WorkerResult | undefined>((resolve, reject) => {
        const onAbort = (): void => {
          pending.delete(id);
          updateRef();
          reject(abortedError(ref, signal));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const settle =
          <T>(fn: (value: T) => void) =>
          (value: T): void => {
            signal?.removeEventListener('abort', onAbort);
            fn(value);
          };
        const flag = request.type === 'generate' ? new Int32Array(request.abort) : undefined;
        if (flag !== undefined) generationFlags.add(flag);
        const untrack =
          <T>(fn: (value: T) => void) =>
          (value: T): void => {
            if (flag !== undefined) generationFlags.delete(flag);
            fn(value);
          };
        pending.set(id, { resolve: untrack(settle(resolve)), reject: untrack(settle(reject)), onProgress, onText });
        updateRef();
        worker.postMessage({ ...request, id } as WorkerRequest);
      });
    },
    close() {
      closing ??= (async () => {
        for (const flag of generationFlags) Atomics.store(flag, 0, 1);
        generationFlags.clear();
        const alive = !exited;
        failAll(new Error(`the model ${ref.key} was unloaded`));
        if (alive) {
          // Kept alive until it has answered: a process exiting under a busy worker is terminating it too.
          worker.ref();
          await new Promise<void>((resolve) => {
            const id = nextId;
            nextId += 1;
            pending.set(id, { resolve: () => resolve(), reject: () => resolve() });
            worker.once('exit', () => resolve());
            worker.postMessage({ type: 'close', id } satisfies WorkerRequest);
          });
        }
        await worker.terminate();
      })();
      return closing;
    },
  };
}

export function abortedError(ref: ModelRef, signal: AbortSignal | undefined): LoadError {
  return new LoadError('ABORTED', `loading ${ref.key} was aborted`, { cause: signal?.reason });
}
