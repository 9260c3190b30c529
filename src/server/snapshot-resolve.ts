/**
 * Step one of fetching a snapshot: what the cache holds already. A complete snapshot (see `model-cache.ts`) of the
 * wanted precision loads with no hub request at all.
 */

import type { ModelRef } from './loader-types.js';
import { readCompleteSnapshot } from './model-cache.js';
import type { SnapshotWeights } from './snapshot-fetcher.js';

/** The weights of `ref`'s complete cached snapshot, if there is one (of `dtype`, when given). */
export async function resolveCached(
  cacheDir: string,
  ref: ModelRef,
  dtype: string | undefined,
): Promise<SnapshotWeights | undefined> {
  const manifest = await readCompleteSnapshot(cacheDir, ref);
  if (manifest === undefined || (dtype !== undefined && manifest.dtype !== dtype)) return undefined;
  const files = manifest.weightFiles.map((path) => manifest.files.find((candidate) => candidate.path === path));
  // parseManifest guarantees every weight file is listed.
  return {
    dtype: manifest.dtype,
    files: files.filter((file) => file !== undefined),
    externalDataChunks: manifest.externalDataChunks,
  };
}
