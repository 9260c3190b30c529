/**
 * Step one of fetching a snapshot: which commit the load is of. Online, the hub says what the revision names now (so
 * a new commit on `main` is picked up, and a push during the load cannot mix two commits); offline, or when the hub
 * cannot be reached, the cache's `refs/{revision}` says what it named when last seen.
 */

import { LoadError, type ModelRef } from '../loader-types.js';
import { readRef } from './model-cache.js';
import type { SnapshotFetcherOptions } from './snapshot-options.js';

/** The commit of a load, and whether the hub was reached to learn it. */
export interface ResolvedRevision {
  /** 40 hex. */
  readonly commit: string;
  /** False when it came from the cache (offline, or the hub unreachable): nothing can be fetched then. */
  readonly online: boolean;
}

/**
 * Resolves `ref.revision` to a commit. Rejects with OFFLINE_NOT_CACHED (offline and never seen) and the hub client's
 * codes (HUB_UNREACHABLE only when the cache does not know the revision either).
 */
export async function resolveRevision(
  ref: ModelRef,
  options: SnapshotFetcherOptions,
  signal?: AbortSignal,
): Promise<ResolvedRevision> {
  const { cacheDir } = options;
  if (options.offline === true) {
    const commit = await readRef(cacheDir, ref);
    if (commit === undefined) throw notCached(ref, cacheDir);
    return { commit, online: false };
  }
  // The cache's write access is not checked here: a read-only cache serves what it holds (`read-only-cache.ts`).
  try {
    return { commit: await options.hub.resolveCommit(ref, signal), online: true };
  } catch (error) {
    // huggingface_hub does the same: a hub that cannot be reached is no reason to refuse what the cache has.
    if (!(error instanceof LoadError && error.code === 'HUB_UNREACHABLE')) throw error;
    const commit = await readRef(cacheDir, ref);
    if (commit === undefined) throw error;
    return { commit, online: false };
  }
}

/** The OFFLINE_NOT_CACHED error of `ref`. */
export function notCached(ref: ModelRef, cacheDir: string, missing?: string): LoadError {
  return new LoadError(
    'OFFLINE_NOT_CACHED',
    `${ref.key} is not in the cache at ${cacheDir}${missing === undefined ? '' : ` (it has no ${missing})`} and ` +
      'modeldeck is offline: run once without --offline to download it, or pick a cached model',
  );
}
