/**
 * Brings the files of one model snapshot onto the disk for a load, in the steps the loader's stages need: the
 * tokenizer files, then the config files, then the weights (the only step with `download` progress). Composed of
 * steps in files of their own, as huggingface.js composes `downloadFileToCacheDir`: `snapshot-resolve.ts` (what is
 * in the cache already), `snapshot-list.ts` (the hub's listing), `snapshot-download.ts` (the missing files) and
 * `snapshot-link.ts` (completing the snapshot). The worker side of a load knows nothing of this but the directory.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { HubClient, HubFile } from './hub-client.js';
import { LoadError, type LoaderEvent, type ModelRef } from './loader-types.js';
import { snapshotDir } from './model-cache.js';
import {
  selectConfigFiles,
  selectTokenizerFiles,
  selectWeightFiles,
  type OnnxDtype,
  type Selection,
} from './model-files.js';
import { fetchMissing } from './snapshot-download.js';
import { completeSnapshot } from './snapshot-link.js';
import { listSnapshot, ONNX_HINT } from './snapshot-list.js';
import { resolveCached } from './snapshot-resolve.js';

/** Options of {@link openSnapshot}. */
export interface SnapshotFetcherOptions {
  readonly hub: HubClient;
  /** modeldeck's cache directory. */
  readonly cacheDir: string;
  /** Never contact the hub: only complete cached snapshots load. */
  readonly offline?: boolean | undefined;
  /** ONNX precision to load; default: the model's config, else fp32, q8, q4, fp16. */
  readonly dtype?: string | undefined;
  /** A file download that receives no byte for this long fails as stalled, in milliseconds. */
  readonly stallTimeoutMs?: number | undefined;
}

/** The weights a snapshot provides, as the worker loads them. */
export interface SnapshotWeights {
  readonly dtype: OnnxDtype;
  /** The ONNX file first, then its external data chunks, with sizes in bytes. */
  readonly files: readonly HubFile[];
  readonly externalDataChunks: number;
}

/** One snapshot being made ready for a load. Call the steps in order, each once. */
export interface Snapshot {
  /** The directory transformers.js reads the files from. */
  readonly dir: string;
  /** True when the snapshot was complete on disk already: nothing will be fetched. */
  readonly cached: boolean;
  /** Makes the tokenizer files present in {@link dir}. */
  tokenizer(): Promise<void>;
  /** Makes the config files present and returns `config.json`, parsed. */
  config(): Promise<unknown>;
  /**
   * Makes the weights present, reporting the `download` stage and its progress through `onEvent` when anything must
   * be fetched, and completes the snapshot.
   */
  weights(config: unknown, onEvent: (event: LoaderEvent) => void): Promise<SnapshotWeights>;
}

/**
 * Finds `ref` in the cache or lists it on the hub. Rejects with OFFLINE_NOT_CACHED, NO_ONNX_WEIGHTS, hub codes or
 * CACHE_NOT_WRITABLE before anything is fetched.
 */
export async function openSnapshot(
  ref: ModelRef,
  options: SnapshotFetcherOptions,
  signal?: AbortSignal,
): Promise<Snapshot> {
  const { hub, cacheDir } = options;
  const dir = snapshotDir(cacheDir, ref);
  const cached = await resolveCached(cacheDir, ref, options.dtype);
  if (cached !== undefined) {
    return {
      dir,
      cached: true,
      tokenizer: () => Promise.resolve(),
      config: () => readConfig(dir, ref),
      weights: () => Promise.resolve(cached),
    };
  }
  const listing = await listSnapshot(ref, options, signal);
  const fetch = { hub, ref, dir, stallTimeoutMs: options.stallTimeoutMs, signal };
  let commit: string | undefined;
  const fetchFiles = async (files: readonly HubFile[]): Promise<void> => {
    const found = await fetchMissing({ ...fetch, files });
    commit ??= found;
  };
  const tokenizerFiles = selected(ref, selectTokenizerFiles(listing), 'LOAD_FAILED');
  let configFiles: HubFile[] = [];
  return {
    dir,
    cached: false,
    tokenizer: () => fetchFiles(tokenizerFiles),
    async config() {
      configFiles = selected(ref, selectConfigFiles(listing), 'LOAD_FAILED');
      await fetchFiles(configFiles);
      return readConfig(dir, ref);
    },
    async weights(config, onEvent) {
      const weights = selected(ref, selectWeightFiles(listing, config, options.dtype), 'NO_ONNX_WEIGHTS');
      await fetchMissing({
        ...fetch,
        files: weights.files,
        onStart(total) {
          onEvent({ type: 'stage', stage: 'download' });
          onEvent({ type: 'progress', stage: 'download', current: 0, total });
        },
        onProgress: (current, total) => onEvent({ type: 'progress', stage: 'download', current, total }),
      }).then((found) => (commit ??= found));
      await completeSnapshot(dir, ref, {
        commit,
        weights,
        files: [...tokenizerFiles, ...configFiles, ...weights.files],
      });
      return weights;
    },
  };
}

function selected<T>(ref: ModelRef, selection: Selection<T>, code: 'LOAD_FAILED' | 'NO_ONNX_WEIGHTS'): T {
  if (selection.ok) return selection.value;
  const hint = code === 'NO_ONNX_WEIGHTS' ? ONNX_HINT : '';
  throw new LoadError(code, `${ref.id}@${ref.revision} ${selection.problem}${hint}`);
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
