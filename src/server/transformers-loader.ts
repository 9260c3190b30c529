/**
 * The {@link ModelLoader} modeldeck's server uses: the server's own hub client downloads the files a causal LM needs
 * into modeldeck's cache (fixed download total, atomic writes, precise errors, HF_TOKEN, revisions), and a worker
 * thread per model (`model-worker.ts`, driven through `worker-client.ts`) loads them with transformers.js from disk,
 * with no network; `generation-queue.ts` then runs its generations one at a time.
 *
 * A load of a complete cached snapshot (see `model-cache.ts`) makes no hub request at all, so cached models work with
 * `--offline` or a hub that is down.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { downloadFile } from './downloader.js';
import { createHubClient, type HubClient, type HubFile } from './hub-client.js';
import { LoadError, type LoadedModel, type LoaderEvent, type ModelLoader, type ModelRef } from './loader-types.js';
import {
  ensureWritableDir,
  listCachedSnapshots,
  modelsRoot,
  presentFiles,
  readCompleteSnapshot,
  snapshotDir,
  writeManifest,
  type SnapshotManifest,
} from './model-cache.js';
import {
  hasOnnxWeights,
  selectConfigFiles,
  selectTokenizerFiles,
  selectWeightFiles,
  type Selection,
} from './model-files.js';
import { createLoadedModel } from './generation-queue.js';
import { abortedError, spawnModelWorker, type ModelWorkerHandle } from './worker-client.js';

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

const ONNX_HINT = '; look for an onnx-community/… variant on the Hub (https://huggingface.co/onnx-community)';

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
  const { hub, cacheDir } = context;
  const dir = snapshotDir(cacheDir, ref);
  const fetchOptions = { hub, ref, dir, stallTimeoutMs: context.stallTimeoutMs, signal };
  onEvent({ type: 'stage', stage: 'processor' });
  // Started as soon as the model is known to be loadable, so that importing transformers.js and ONNX Runtime overlaps
  // with the downloads; not earlier, so that a load failing at the hub costs no worker start.
  let started: ModelWorkerHandle | undefined;
  const startWorker = (): ModelWorkerHandle =>
    (started ??= spawnModelWorker(ref, { cacheDir, modelsRoot: modelsRoot(cacheDir) }));
  try {
    let manifest = await readCompleteSnapshot(cacheDir, ref);
    if (manifest !== undefined && context.dtype !== undefined && manifest.dtype !== context.dtype) manifest = undefined;
    if (manifest !== undefined) startWorker();

    let listing: HubFile[] | undefined;
    let commit: string | undefined;
    const fetchFiles = async (files: readonly HubFile[], onBytes?: (bytes: number) => void): Promise<void> => {
      const present = await presentFiles(dir, files);
      for (const file of files) {
        if (present.has(file.path)) continue;
        const result = await downloadFile({ ...fetchOptions, file, onBytes });
        commit ??= result.commit;
      }
    };

    if (manifest === undefined) {
      if (context.offline === true) {
        throw new LoadError(
          'OFFLINE_NOT_CACHED',
          `${ref.key} is not in the cache at ${cacheDir} and modeldeck is offline: run once without --offline to ` +
            'download it, or pick a cached model',
        );
      }
      // The models root, not the snapshot directory: a failed listing must not leave empty directories behind.
      await ensureWritableDir(modelsRoot(cacheDir));
      listing = await hub.listFiles(ref, signal);
      if (!hasOnnxWeights(listing)) {
        throw new LoadError('NO_ONNX_WEIGHTS', `${ref.id} has no ONNX weights for transformers.js${ONNX_HINT}`);
      }
      startWorker();
      await fetchFiles(selected(ref, selectTokenizerFiles(listing), 'LOAD_FAILED'));
    }
    const worker = startWorker();
    await worker.call({ type: 'tokenizer', dir }, signal);

    onEvent({ type: 'stage', stage: 'config' });
    let configFiles: HubFile[] = [];
    if (listing !== undefined) {
      configFiles = selected(ref, selectConfigFiles(listing), 'LOAD_FAILED');
      await fetchFiles(configFiles);
    }
    const config = await readConfig(dir, ref);
    await worker.call({ type: 'config', dir }, signal);

    if (listing !== undefined) {
      const weights = selected(ref, selectWeightFiles(listing, config, context.dtype), 'NO_ONNX_WEIGHTS');
      const present = await presentFiles(dir, weights.files);
      const missing = weights.files.filter((file) => !present.has(file.path));
      if (missing.length > 0) {
        onEvent({ type: 'stage', stage: 'download' });
        const total = missing.reduce((sum, file) => sum + file.size, 0);
        let current = 0;
        onEvent({ type: 'progress', stage: 'download', current, total });
        await fetchFiles(missing, (bytes) => {
          current += bytes;
          onEvent({ type: 'progress', stage: 'download', current, total });
        });
      }
      const tokenizerFiles = selected(ref, selectTokenizerFiles(listing), 'LOAD_FAILED');
      manifest = {
        version: 1,
        id: ref.id,
        revision: ref.revision,
        ...(commit === undefined ? {} : { commit }),
        dtype: weights.dtype,
        externalDataChunks: weights.externalDataChunks,
        files: [...tokenizerFiles, ...configFiles, ...weights.files],
        weightFiles: weights.files.map((file) => file.path),
        completedAt: new Date().toISOString(),
      };
      // Last: only now does the snapshot count as complete.
      await writeManifest(dir, manifest);
    }
    if (manifest === undefined) throw new LoadError('LOAD_FAILED', `${ref.key}: no snapshot to load`);

    onEvent({ type: 'stage', stage: 'weights' });
    const weightFiles = weightFilesOf(manifest);
    await worker.call(
      {
        type: 'weights',
        dir,
        dtype: manifest.dtype,
        files: weightFiles,
        externalDataChunks: manifest.externalDataChunks,
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

function selected<T>(ref: ModelRef, selection: Selection<T>, code: 'LOAD_FAILED' | 'NO_ONNX_WEIGHTS'): T {
  if (selection.ok) return selection.value;
  const hint = code === 'NO_ONNX_WEIGHTS' ? ONNX_HINT : '';
  throw new LoadError(code, `${ref.id}@${ref.revision} ${selection.problem}${hint}`);
}

function weightFilesOf(manifest: SnapshotManifest): HubFile[] {
  return manifest.weightFiles.map((path) => {
    const file = manifest.files.find((candidate) => candidate.path === path);
    if (file === undefined) {
      throw new LoadError('LOAD_FAILED', `the cache manifest of ${manifest.id} does not list ${path}`);
    }
    return file;
  });
}

async function readConfig(dir: string, ref: ModelRef): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as unknown;
  } catch (error) {
    throw new LoadError('LOAD_FAILED', `config.json of ${ref.key} is not valid JSON: ${describe(error)}`, {
      cause: error,
    });
  }
}

function throwIfAborted(signal: AbortSignal | undefined, ref: ModelRef): void {
  if (signal?.aborted === true) throw abortedError(ref, signal);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
