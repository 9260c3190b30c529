/** Step three of fetching a snapshot: the files that are not on the disk yet, one after another. */

import { downloadFile } from './downloader.js';
import type { HubClient, HubFile, RepoRef } from './hub-client.js';
import { presentFiles } from './model-cache.js';

/** Options of {@link fetchMissing}. */
export interface FetchMissingOptions {
  readonly hub: HubClient;
  readonly ref: RepoRef;
  /** Snapshot directory. */
  readonly dir: string;
  readonly files: readonly HubFile[];
  readonly stallTimeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Called once, before any byte is fetched, with the bytes to fetch; not called when nothing is missing. */
  readonly onStart?: ((total: number) => void) | undefined;
  /** Bytes fetched so far of `total`. */
  readonly onProgress?: ((current: number, total: number) => void) | undefined;
}

/** Downloads the files of `files` that are missing; resolves with the commit the hub named, if it did. */
export async function fetchMissing(options: FetchMissingOptions): Promise<string | undefined> {
  const { files, onProgress } = options;
  const present = await presentFiles(options.dir, files);
  const missing = files.filter((file) => !present.has(file.path));
  if (missing.length === 0) return undefined;
  const total = missing.reduce((sum, file) => sum + file.size, 0);
  options.onStart?.(total);
  let current = 0;
  let commit: string | undefined;
  for (const file of missing) {
    const result = await downloadFile({
      hub: options.hub,
      ref: options.ref,
      dir: options.dir,
      file,
      stallTimeoutMs: options.stallTimeoutMs,
      signal: options.signal,
      onBytes(bytes) {
        current += bytes;
        onProgress?.(current, total);
      },
    });
    commit ??= result.commit;
  }
  return commit;
}
