/** Step two of fetching a snapshot: the hub's listing of the revision, refused early when it cannot be loaded. */

import type { HubFile } from './hub-client.js';
import { LoadError, type ModelRef } from './loader-types.js';
import { ensureWritableDir, modelsRoot } from './model-cache.js';
import { hasOnnxWeights } from './model-files.js';
import type { SnapshotFetcherOptions } from './snapshot-fetcher.js';

/** Appended to every NO_ONNX_WEIGHTS message. */
export const ONNX_HINT = '; look for an onnx-community/… variant on the Hub (https://huggingface.co/onnx-community)';

/**
 * Every file of `ref` on the hub. Rejects with OFFLINE_NOT_CACHED when offline, CACHE_NOT_WRITABLE when the cache
 * cannot be written, NO_ONNX_WEIGHTS when the repository has no ONNX weights, and the hub client's codes.
 */
export async function listSnapshot(
  ref: ModelRef,
  options: SnapshotFetcherOptions,
  signal?: AbortSignal,
): Promise<HubFile[]> {
  const { cacheDir } = options;
  if (options.offline === true) {
    throw new LoadError(
      'OFFLINE_NOT_CACHED',
      `${ref.key} is not in the cache at ${cacheDir} and modeldeck is offline: run once without --offline to ` +
        'download it, or pick a cached model',
    );
  }
  // The models root, not the snapshot directory: a failed listing must not leave empty directories behind.
  await ensureWritableDir(modelsRoot(cacheDir));
  const listing = await options.hub.listFiles(ref, signal);
  if (!hasOnnxWeights(listing)) {
    throw new LoadError('NO_ONNX_WEIGHTS', `${ref.id} has no ONNX weights for transformers.js${ONNX_HINT}`);
  }
  return listing;
}
