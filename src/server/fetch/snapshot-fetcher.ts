/**
 * Brings the files of one model snapshot onto the disk for a load, in the steps the loader's stages need: the
 * tokenizer files, then the config files, then the weights (the only step with `download` progress). Composed of
 * steps in files of their own, as huggingface.js composes `downloadFileToCacheDir`: `snapshot-resolve.ts` (what is
 * in the cache already), `snapshot-list.ts` (the hub's listing), `snapshot-download.ts` (the missing files) and
 * `snapshot-link.ts` (completing the snapshot). The worker side of a load knows nothing of this but the directory.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { createDownloadProgress, type DownloadEvent, type DownloadProgress } from './download-progress.js';
import type { HubFile } from './hub-client.js';
import { LoadError, type ModelRef } from '../loader-types.js';
import { presentFiles, snapshotDir, writeRef } from './model-cache.js';
import type { OnnxDtype } from '../../protocol/dtype.js';
import { selectConfigFiles, selectTokenizerFiles, selectWeightFiles, type Selection } from './model-files.js';
import { ensureCanFetch } from './read-only-cache.js';
import { downloadFiles } from './snapshot-download.js';
import type { SnapshotFetcherOptions } from './snapshot-options.js';
import { listCommit, onnxHint } from './snapshot-list.js';
import { notCached, resolveRevision } from './snapshot-resolve.js';

/**
 * Files the tokenizer and config stages need are fetched in those stages, uncounted, when they are at most this big
 * (bytes); a bigger one (a real `tokenizer.json` is 7–17 MB) is fetched in the `download` stage and counted there.
 */
export const SILENT_FILE_LIMIT = 1024 * 1024;

/** Loads opened so far in this process, to name each load's flow. */
let loads = 0;

/** The weights a snapshot provides, as the worker loads them. */
export interface SnapshotWeights {
  readonly dtype: OnnxDtype;
  /** `model`, or `decoder_model_merged` for a legacy layout (transformers.js `model_file_name`). */
  readonly modelFileName: string;
  /** The ONNX file first, then its external data chunks, with sizes in bytes. */
  readonly files: readonly HubFile[];
  readonly externalDataChunks: number;
}

/** One snapshot being made ready for a load. Call the steps in order, each once. */
export interface Snapshot {
  /** The directory transformers.js reads the files from: `snapshots/{commit}`. */
  readonly dir: string;
  /** The commit the load is of. */
  readonly commit: string;
  /**
   * Makes the tokenizer files present in {@link dir} and resolves true, or resolves false when one of them is too big
   * to fetch silently: then it comes with the weights, and the tokenizer can be loaded after {@link weights}.
   */
  tokenizer(): Promise<boolean>;
  /** Makes the config files present and returns `config.json`, parsed. */
  config(): Promise<unknown>;
  /**
   * Makes the weights (and a deferred tokenizer file) present, reporting the `download` stage and its progress through
   * `onEvent` when anything must be fetched (`download-progress.ts` makes those events). `admit` is asked first, with
   * the weight files' bytes; its rejection ends the step before anything is fetched.
   */
  weights(
    config: unknown,
    onEvent: (event: DownloadEvent) => void,
    admit?: (weightBytes: number) => Promise<void>,
  ): Promise<SnapshotWeights>;
}

/**
 * Resolves `ref` to its commit and lists the commit's files. Rejects with OFFLINE_NOT_CACHED, NO_ONNX_WEIGHTS or hub
 * codes before anything is fetched; a step that must fetch into a cache it cannot write rejects with
 * CACHE_NOT_WRITABLE before the first byte (`read-only-cache.ts`). `dtypeOverride` (a load request's `dtype` preference)
 * replaces the server's `options.dtype`.
 */
export async function openSnapshot(
  ref: ModelRef,
  options: SnapshotFetcherOptions,
  signal?: AbortSignal,
  dtypeOverride?: readonly string[],
): Promise<Snapshot> {
  const { cacheDir } = options;
  const resolved = await resolveRevision(ref, options, signal);
  const { commit } = resolved;
  const listing = await listCommit(ref, resolved, options, signal);
  if (resolved.online) await writeRef(cacheDir, ref, commit);
  const dir = snapshotDir(cacheDir, ref, commit);
  // This load's flow: its files share the download connections fairly with other loads'.
  const flow = `load ${(loads += 1)} ${ref.key}`;
  const select = <T>(selection: Selection<T>, code: 'LOAD_FAILED' | 'NO_ONNX_WEIGHTS'): T => {
    if (selection.ok) return selection.value;
    const missingFiles = selection.problem.startsWith('has no ');
    if (!resolved.online && missingFiles) throw notCached(ref, cacheDir, selection.problem.replace(/^has no /, ''));
    if (!resolved.online) {
      // The snapshot holds the variants loaded before, not the dtypes asked for now.
      throw new LoadError(
        'OFFLINE_NOT_CACHED',
        `the cached snapshot of ${ref.key} at ${cacheDir} ${selection.problem}; modeldeck is offline: run once ` +
          'without --offline to download another dtype',
      );
    }
    // Where to look instead, when the repository has no weights at all (not when it lacks the dtypes asked for).
    const hint = code === 'NO_ONNX_WEIGHTS' && missingFiles ? onnxHint(ref) : '';
    throw new LoadError(code, `${ref.id}@${ref.revision} ${selection.problem}${hint}`);
  };
  const fetchFiles = async (files: readonly HubFile[], progress?: DownloadProgress): Promise<boolean> => {
    if (resolved.online) await ensureCanFetch({ cacheDir, ref, commit, snapshot: dir, files });
    return downloadFiles({
      hub: options.hub,
      ref,
      commit,
      cacheDir,
      snapshot: dir,
      files,
      transfer: options.transfer,
      flow,
      online: resolved.online,
      signal,
      progress,
    });
  };
  const preference = dtypeOverride ?? options.dtype;
  // Whether the repository can load at all is decided from the listing, before any file is fetched: the config's
  // dtype only chooses among the variants present, so a config-less check gives the same verdict.
  select(selectWeightFiles(listing, {}, preference), 'NO_ONNX_WEIGHTS');
  const tokenizerFiles = select(selectTokenizerFiles(listing), 'LOAD_FAILED');
  select(selectConfigFiles(listing), 'LOAD_FAILED');
  let deferred: HubFile[] = [];
  return {
    dir,
    commit,
    async tokenizer() {
      const present = await presentFiles(dir, tokenizerFiles);
      const missing = tokenizerFiles.filter((file) => !present.has(file.path));
      if (missing.some((file) => file.size > SILENT_FILE_LIMIT)) {
        deferred = missing;
        return false;
      }
      await fetchFiles(missing);
      return true;
    },
    async config() {
      await fetchFiles(select(selectConfigFiles(listing), 'LOAD_FAILED'));
      return readConfig(dir, ref);
    },
    async weights(config, onEvent, admit) {
      const weights = select(selectWeightFiles(listing, config, preference), 'NO_ONNX_WEIGHTS');
      // The memory budget's say, from the listing's sizes, before the first byte of a weight file.
      await admit?.(weights.files.reduce((sum, file) => sum + file.size, 0));
      // The one progress channel of the `download` stage, down to every blob download.
      await fetchFiles([...deferred, ...weights.files], createDownloadProgress(onEvent));
      return weights;
    },
  };
}

async function readConfig(dir: string, ref: ModelRef): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as unknown;
  } catch (error) {
    // Never the parser's message: it quotes the file's first bytes, and a message goes to every client.
    const where = error instanceof Error ? (/ at position \d+/.exec(error.message)?.[0] ?? '') : '';
    throw new LoadError('LOAD_FAILED', `config.json of ${ref.key} is not valid JSON${where}`, { cause: error });
  }
}
