/** Step four of fetching a snapshot: marking it complete, last, so an interrupted fetch never looks complete. */

import type { HubFile } from './hub-client.js';
import type { ModelRef } from './loader-types.js';
import { writeManifest } from './model-cache.js';
import type { SnapshotWeights } from './snapshot-fetcher.js';

/** What a completed snapshot holds. */
export interface CompletedSnapshot {
  readonly commit: string | undefined;
  readonly weights: SnapshotWeights;
  /** Every file of the snapshot. */
  readonly files: readonly HubFile[];
}

/** Writes the manifest of `dir`'s snapshot. */
export async function completeSnapshot(dir: string, ref: ModelRef, snapshot: CompletedSnapshot): Promise<void> {
  const { commit, weights, files } = snapshot;
  await writeManifest(dir, {
    version: 1,
    id: ref.id,
    revision: ref.revision,
    ...(commit === undefined ? {} : { commit }),
    dtype: weights.dtype,
    externalDataChunks: weights.externalDataChunks,
    files,
    weightFiles: weights.files.map((file) => file.path),
    completedAt: new Date().toISOString(),
  });
}
