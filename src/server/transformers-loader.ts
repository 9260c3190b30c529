/**
 * The {@link ModelLoader} modeldeck's server uses: the snapshot fetcher (`snapshot-fetcher.ts`) brings the files a
 * causal LM needs into the Hugging Face cache (one commit per load, parallel, resumable, verified, fixed download
 * total), and a worker thread per model (`model-worker.ts`, driven through `worker-client.ts`) loads them with
 * transformers.js from disk, with no network; `generation-queue.ts` then runs its generations one at a time.
 *
 * Online, a load of a cached model asks the hub only what the revision names now and lists that commit; offline, or
 * with the hub down, it asks nothing.
 */

import { createLoadedModel } from './generation-queue.js';
import { createHubClient, type HubClient } from './fetch/hub-client.js';
import {
  LoadError,
  type LoadedModel,
  type LoaderEvent,
  type LoadOptions,
  type ModelLoader,
  type ModelRef,
  type PulledModel,
} from './loader-types.js';
import { createTransfer, type DownloadPolicy, type Transfer } from './fetch/transfer.js';
import { listCachedSnapshots } from './fetch/model-cache.js';
import { openSnapshot, type SnapshotWeights } from './fetch/snapshot-fetcher.js';
import { weightItems } from './text-tools.js';
import { readThroughWeights } from './weights-reader.js';
import { abortedError, spawnModelWorker, type ModelWorkerHandle } from './worker-client.js';

/** Options of {@link createTransformersLoader}. */
export interface TransformersLoaderOptions {
  /** Base URL of the hub (`https://huggingface.co`, a mirror, `HF_ENDPOINT`). */
  readonly hubUrl: string;
  /** The Hugging Face cache directory (`~/.cache/huggingface/hub` by default; see `model-cache.ts`). */
  readonly cacheDir: string;
  /** Never contact the hub: only what the cache holds loads. */
  readonly offline?: boolean;
  /** Hub access token (`HF_TOKEN`), for gated and private repositories. */
  readonly token?: string;
  /** Where {@link token} came from, for messages (`HF_TOKEN`, `the token file …`); default `HF_TOKEN`. */
  readonly tokenSource?: string;
  /**
   * ONNX precisions to load, in order of preference (`q4`, `q8`, …; `auto` stands for the default choice); default:
   * the model's config, else `model-files.ts`'s DEFAULT_DTYPE_ORDER. A load's own `dtype` replaces it.
   */
  readonly dtype?: readonly string[];
  /** A request that receives no byte for this long is abandoned and retried, in milliseconds (default 30000). */
  readonly stallTimeoutMs?: number;
  /** Connections downloads use at once, over all loads (default 8). */
  readonly downloadConnections?: number;
  /** Retry settings of downloads (tests shorten the backoff). */
  readonly download?: Omit<DownloadPolicy, 'connections' | 'stallTimeoutMs'>;
  /** The fetch the hub client uses for listings and revisions (files come over `node:http`); default: the global one. */
  readonly fetch?: typeof fetch;
  /** Called each time a download request is tried again after a transient failure (`GET /metrics`). */
  readonly onDownloadRetry?: () => void;
}

/** Creates the transformers.js-backed {@link ModelLoader}. */
export function createTransformersLoader(options: TransformersLoaderOptions): ModelLoader {
  const hub = createHubClient({
    hubUrl: options.hubUrl,
    token: options.token,
    tokenSource: options.tokenSource,
    fetch: options.fetch,
    requestTimeoutMs: options.stallTimeoutMs,
  });
  const transfer = createTransfer(
    { ...options.download, connections: options.downloadConnections, stallTimeoutMs: options.stallTimeoutMs },
    options.onDownloadRetry,
  );
  return {
    load: (ref, onEvent, signal, loadOptions) => load(ref, onEvent, signal, { ...options, hub, transfer }, loadOptions),
    listCached: () => listCachedSnapshots(options.cacheDir),
    pull: (ref, onEvent, signal, loadOptions) => pull(ref, onEvent, signal, { ...options, hub, transfer }, loadOptions),
    cacheDir: options.cacheDir,
  };
}

interface LoadContext extends TransformersLoaderOptions {
  readonly hub: HubClient;
  readonly transfer: Transfer;
}

async function load(
  ref: ModelRef,
  onEvent: (event: LoaderEvent) => void,
  signal: AbortSignal | undefined,
  context: LoadContext,
  loadOptions: LoadOptions | undefined,
): Promise<LoadedModel> {
  throwIfAborted(signal, ref);
  const { cacheDir } = context;
  onEvent({ type: 'stage', stage: 'processor' });
  // Started as soon as the model is known to be loadable, so that importing transformers.js and ONNX Runtime overlaps
  // with the downloads; not earlier, so that a load failing at the hub costs no worker start.
  let started: ModelWorkerHandle | undefined;
  try {
    const snapshot = await openSnapshot(ref, context, signal, loadOptions?.dtype);
    const { dir } = snapshot;
    // transformers.js writes nothing (its file cache is off) and reads the snapshot by its absolute path.
    const worker = (started = spawnModelWorker(ref, { cacheDir, modelsRoot: cacheDir }));
    const tokenizerReady = await snapshot.tokenizer();
    let hasChatTemplate: boolean | undefined;
    const loadTokenizer = async (): Promise<void> => {
      const info = await worker.call({ type: 'tokenizer', dir }, signal);
      if (info !== undefined && 'hasChatTemplate' in info) hasChatTemplate = info.hasChatTemplate;
    };
    if (tokenizerReady) await loadTokenizer();

    onEvent({ type: 'stage', stage: 'config' });
    const config = await snapshot.config();
    await worker.call({ type: 'config', dir }, signal);

    const weights = await snapshot.weights(config, onEvent, loadOptions?.admit);
    if (!tokenizerReady) await loadTokenizer();
    onEvent({ type: 'stage', stage: 'weights' });
    await buildSession(worker, dir, weights, onEvent, signal);
    throwIfAborted(signal, ref);
    const weightBytes = weights.files.reduce((sum, file) => sum + file.size, 0);
    return createLoadedModel(ref, worker, weightBytes, weights.dtype, hasChatTemplate);
  } catch (error) {
    await started?.close();
    if (error instanceof LoadError) throw error;
    throw new LoadError('LOAD_FAILED', `transformers.js could not load ${ref.key}: ${describe(error)}`, {
      cause: error,
    });
  }
}

/** `POST /pull_model`: the files of a load onto the disk, in the same stages and progress, and no worker. */
async function pull(
  ref: ModelRef,
  onEvent: (event: LoaderEvent) => void,
  signal: AbortSignal | undefined,
  context: LoadContext,
  loadOptions: LoadOptions | undefined,
): Promise<PulledModel> {
  throwIfAborted(signal, ref);
  onEvent({ type: 'stage', stage: 'processor' });
  const snapshot = await openSnapshot(ref, context, signal, loadOptions?.dtype);
  await snapshot.tokenizer();
  onEvent({ type: 'stage', stage: 'config' });
  const config = await snapshot.config();
  const weights = await snapshot.weights(config, onEvent);
  throwIfAborted(signal, ref);
  return { weightBytes: weights.files.reduce((sum, file) => sum + file.size, 0), dtype: weights.dtype };
}

/**
 * The `weights` stage: the worker builds the ONNX Runtime session while this thread reads the weight files through
 * (`weights-reader.ts`). One item per block read and one for the session, in whichever order they complete; the last
 * item, and so `current == total`, only when both are done.
 */
async function buildSession(
  worker: ModelWorkerHandle,
  dir: string,
  weights: SnapshotWeights,
  onEvent: (event: LoaderEvent) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const total = weightItems(weights.files.map((file) => file.size));
  let current = 0;
  const complete = (): void => {
    current += 1;
    onEvent({ type: 'progress', stage: 'weights', current, total });
  };
  onEvent({ type: 'progress', stage: 'weights', current, total });
  // Stops the read when the session fails (or the load is aborted), so that nothing reads on for a failed load.
  const stopRead = new AbortController();
  const readSignal = signal === undefined ? stopRead.signal : AbortSignal.any([signal, stopRead.signal]);
  try {
    await Promise.all([
      readThroughWeights(dir, weights.files, complete, readSignal),
      worker
        .call(
          {
            type: 'weights',
            dir,
            dtype: weights.dtype,
            modelFileName: weights.modelFileName,
            externalDataChunks: weights.externalDataChunks,
          },
          signal,
        )
        .then(complete),
    ]);
  } finally {
    stopRead.abort();
  }
}

function throwIfAborted(signal: AbortSignal | undefined, ref: ModelRef): void {
  if (signal?.aborted === true) throw abortedError(ref, signal);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
