/**
 * The {@link ModelLoader} modeldeck's server uses: the server's own hub client downloads the files a causal LM needs
 * into modeldeck's cache (fixed download total, atomic writes, precise errors, HF_TOKEN, revisions), and a worker
 * thread per model (`model-worker.ts`) loads them with transformers.js from disk, with no network, and generates.
 *
 * A load of a complete cached snapshot (see `model-cache.ts`) makes no hub request at all, so cached models work with
 * `--offline` or a hub that is down.
 */

import { Worker } from 'node:worker_threads';

import { createHubClient, type HubClient } from './hub-client.js';
import {
  LoadError,
  type ChatMessage,
  type GenerateOptions,
  type GenerateResult,
  type LoadedModel,
  type LoaderEvent,
  type ModelLoader,
  type ModelRef,
} from './loader-types.js';
import { listCachedSnapshots, modelsRoot } from './model-cache.js';
import type { ModelWorkerData, WorkerReply, WorkerRequest } from './model-worker.js';
import { openSnapshot } from './snapshot-fetcher.js';

/** Options of {@link createTransformersLoader}. */
export interface TransformersLoaderOptions {
  /** Base URL of the hub (`https://huggingface.co`, a mirror, `HF_ENDPOINT`). */
  readonly hubUrl: string;
  /** modeldeck's cache directory; snapshots go to `{cacheDir}/models/…`. */
  readonly cacheDir: string;
  /** Never contact the hub: only complete cached snapshots load. */
  readonly offline?: boolean;
  /** Hub access token (`HF_TOKEN`), for gated and private repositories. */
  readonly token?: string;
  /** ONNX precision to load (`fp32`, `q8`, `q4`, `fp16`, …); default: the model's config, else fp32, q8, q4, fp16. */
  readonly dtype?: string;
  /** A file download that receives no byte for this long fails as stalled, in milliseconds (default 30000). */
  readonly stallTimeoutMs?: number;
  /** The fetch the hub client uses; defaults to the global one. */
  readonly fetch?: typeof fetch;
}

/** Creates the transformers.js-backed {@link ModelLoader}. */
export function createTransformersLoader(options: TransformersLoaderOptions): ModelLoader {
  const hub = createHubClient({
    hubUrl: options.hubUrl,
    token: options.token,
    fetch: options.fetch,
    requestTimeoutMs: options.stallTimeoutMs,
  });
  return {
    load: (ref, onEvent, signal) => load(ref, onEvent, signal, { ...options, hub }),
    listCached: () => listCachedSnapshots(options.cacheDir),
  };
}

interface LoadContext extends TransformersLoaderOptions {
  readonly hub: HubClient;
}

async function load(
  ref: ModelRef,
  onEvent: (event: LoaderEvent) => void,
  signal: AbortSignal | undefined,
  context: LoadContext,
): Promise<LoadedModel> {
  throwIfAborted(signal, ref);
  const { cacheDir } = context;
  onEvent({ type: 'stage', stage: 'processor' });
  // Started as soon as the model is known to be loadable, so that importing transformers.js and ONNX Runtime overlaps
  // with the downloads; not earlier, so that a load failing at the hub costs no worker start.
  let started: ModelWorkerHandle | undefined;
  try {
    const snapshot = await openSnapshot(ref, context, signal);
    const { dir } = snapshot;
    const worker = (started = spawnModelWorker(ref, { cacheDir, modelsRoot: modelsRoot(cacheDir) }));
    await snapshot.tokenizer();
    await worker.call({ type: 'tokenizer', dir }, signal);

    onEvent({ type: 'stage', stage: 'config' });
    const config = await snapshot.config();
    await worker.call({ type: 'config', dir }, signal);

    const weights = await snapshot.weights(config, onEvent);
    onEvent({ type: 'stage', stage: 'weights' });
    await worker.call(
      {
        type: 'weights',
        dir,
        dtype: weights.dtype,
        files: weights.files,
        externalDataChunks: weights.externalDataChunks,
      },
      signal,
      (current, total) => onEvent({ type: 'progress', stage: 'weights', current, total }),
    );
    throwIfAborted(signal, ref);
    return createLoadedModel(ref, worker);
  } catch (error) {
    await started?.close();
    if (error instanceof LoadError) throw error;
    throw new LoadError('LOAD_FAILED', `transformers.js could not load ${ref.key}: ${describe(error)}`, {
      cause: error,
    });
  }
}

function throwIfAborted(signal: AbortSignal | undefined, ref: ModelRef): void {
  if (signal?.aborted === true) throw abortedError(ref, signal);
}

/** The main thread's side of one model worker. */
interface ModelWorkerHandle {
  /**
   * Sends a request and resolves when the worker answers it. Rejects with an `Error` when the worker reports a
   * failure or dies, and with an ABORTED {@link LoadError} when `signal` fires (the caller then closes it).
   */
  call(
    request: DistributiveOmit<Exclude<WorkerRequest, { type: 'close' }>, 'id'>,
    signal?: AbortSignal,
    onProgress?: (current: number, total: number) => void,
    onText?: (text: string) => void,
  ): Promise<GenerateResult | undefined>;
  /**
   * Stops the worker: pending calls reject at once, a running generation stops at its next token, and the thread is
   * terminated once the worker says no native call is in flight (see the `close` request). Idempotent.
   */
  close(): Promise<void>;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface PendingCall {
  resolve(result: GenerateResult | undefined): void;
  reject(error: Error): void;
  onProgress?: ((current: number, total: number) => void) | undefined;
  onText?: ((text: string) => void) | undefined;
}

function spawnModelWorker(ref: ModelRef, data: ModelWorkerData): ModelWorkerHandle {
  // `.ts` under tap's TypeScript loader (which the worker inherits), `.js` from the compiled dist/.
  const worker = new Worker(
    new URL(`./model-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
    { workerData: data },
  );
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
        call.reject(new Error(reply.message));
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
    failAll(new Error(`the model worker of ${ref.key} exited (code ${code})`));
  });

  return {
    call(request, signal, onProgress, onText) {
      if (dead !== undefined) return Promise.reject(dead);
      if (signal?.aborted === true) return Promise.reject(abortedError(ref, signal));
      const id = nextId;
      nextId += 1;
      return new Promise<GenerateResult | undefined>((resolve, reject) => {
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

function abortedError(ref: ModelRef, signal: AbortSignal | undefined): LoadError {
  return new LoadError('ABORTED', `loading ${ref.key} was aborted`, { cause: signal?.reason });
}

function createLoadedModel(ref: ModelRef, worker: ModelWorkerHandle): LoadedModel {
  // One generation at a time per model: the worker holds one ONNX session, and the seeded sampler is global there.
  let queue: Promise<unknown> = Promise.resolve();
  let disposed = false;
  return {
    ref,
    generate(messages, options, onText, signal) {
      const run = async (): Promise<GenerateResult> => {
        if (disposed) throw new Error(`model ${ref.key} was unloaded`);
        checkGenerateOptions(options);
        if (signal?.aborted === true) return { finishReason: 'stop', promptTokens: 0, completionTokens: 0 };
        const abort = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
        const flag = new Int32Array(abort);
        // A shared flag, not a message: the worker checks it between generation steps without yielding to its loop.
        const onAbort = (): void => {
          Atomics.store(flag, 0, 1);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          const result = await worker
            .call(
              { type: 'generate', messages: messages.map(plainMessage), options: plainOptions(options), abort },
              undefined,
              undefined,
              onText,
            )
            .catch((error: unknown) => {
              throw new Error(`generation with ${ref.key} failed: ${describe(error)}`, { cause: error });
            });
          if (result === undefined) throw new Error(`generation with ${ref.key} returned nothing`);
          return result;
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      };
      const result = queue.then(run, run);
      queue = result.catch(() => undefined);
      return result;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await worker.close();
    },
  };
}

function checkGenerateOptions(options: GenerateOptions): void {
  if (!Number.isSafeInteger(options.maxTokens) || options.maxTokens < 1) {
    throw new RangeError(`maxTokens must be a positive integer, got ${options.maxTokens}`);
  }
  if (options.temperature !== undefined && !(options.temperature >= 0)) {
    throw new RangeError(`temperature must be at least 0, got ${options.temperature}`);
  }
  if (options.topP !== undefined && !(options.topP > 0 && options.topP <= 1)) {
    throw new RangeError(`topP must be in (0, 1], got ${options.topP}`);
  }
  if (options.seed !== undefined && !(Number.isSafeInteger(options.seed) && options.seed >= 0)) {
    throw new RangeError(`seed must be a non-negative integer, got ${options.seed}`);
  }
}

/** Copies only the fields the worker reads, so no caller object has to survive a structured clone. */
function plainMessage(message: ChatMessage): ChatMessage {
  return { role: message.role, content: message.content };
}

function plainOptions(options: GenerateOptions): GenerateOptions {
  return {
    maxTokens: options.maxTokens,
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(options.topP === undefined ? {} : { topP: options.topP }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.stop === undefined ? {} : { stop: [...options.stop] }),
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
