/**
 * Step two of fetching a snapshot: the files of the commit. Online, the hub's listing at the commit (with sizes and
 * the digests each file is verified against), asked once per commit and then kept beside the snapshot; from the cache,
 * the snapshot directory's own files, whoever wrote them.
 */

import type { HubFile } from './hub-client.js';
import { LoadError, type ModelRef } from '../loader-types.js';
import { snapshotDir, snapshotListing } from './model-cache.js';
import { hasOnnxWeights } from './model-files.js';
import type { SnapshotFetcherOptions } from './snapshot-options.js';
import { notCached, type ResolvedRevision } from './snapshot-resolve.js';
import { listThroughCache } from './snapshot-tree.js';

/** Appended to a NO_ONNX_WEIGHTS message: where to look instead (not on a repository of onnx-community itself). */
export function onnxHint(ref: ModelRef): string {
  if (ref.id.startsWith('onnx-community/')) return '';
  return '; look for an onnx-community/… variant on the Hub (https://huggingface.co/onnx-community)';
}

/**
 * Every file of the resolved commit. Rejects with NO_ONNX_WEIGHTS when the repository has no ONNX weights (from the
 * cache: OFFLINE_NOT_CACHED, also when a file of the snapshot is linked out of the cache), and the hub client's codes.
 */
export async function listCommit(
  ref: ModelRef,
  resolved: ResolvedRevision,
  options: SnapshotFetcherOptions,
  signal?: AbortSignal,
): Promise<HubFile[]> {
  if (!resolved.online) {
    const { files, linkedOut } = await snapshotListing(snapshotDir(options.cacheDir, ref, resolved.commit));
    if (linkedOut.length > 0) throw linkedOutOfCache(ref, options.cacheDir, linkedOut);
    if (!hasOnnxWeights(files)) throw notCached(ref, options.cacheDir, 'onnx/*.onnx');
    return files;
  }
  // A commit's listing never changes: kept with the snapshot, it is asked of the hub once (`snapshot-tree.ts`).
  const listing = await listThroughCache(options.cacheDir, ref, resolved.commit, () =>
    options.hub.listFiles({ id: ref.id, revision: resolved.commit }, signal),
  );
  if (!hasOnnxWeights(listing)) {
    throw new LoadError('NO_ONNX_WEIGHTS', `${ref.id} has no ONNX weights for transformers.js${onnxHint(ref)}`);
  }
  return listing;
}

/**
 * The OFFLINE_NOT_CACHED error of a cached snapshot with files linked out of the cache (`model-cache.ts`): they are
 * not read, so nothing of them reaches a message; only their paths in the snapshot are named.
 */
function linkedOutOfCache(ref: ModelRef, cacheDir: string, paths: readonly string[]): LoadError {
  const shown = paths.length > 5 ? [...paths.slice(0, 5), `and ${paths.length - 5} more`] : paths;
  return new LoadError(
    'OFFLINE_NOT_CACHED',
    `the cached snapshot of ${ref.key} at ${cacheDir} has ${shown.join(', ')} linked outside the cache, which ` +
      'modeldeck does not read: remove the link, or load the model once without --offline to fetch the file again',
  );
}
