/**
 * A cache the server may read but not write (a team's read-only mount, another user's directory) is served as it is:
 * what it holds loads, online too, and nothing is written unless a file must be fetched. Only then is its write
 * access checked, so that a model it lacks fails at once, before a byte is fetched, with a message that names the
 * read-only cache and what it lacks, instead of the downloader's first failed write.
 */

import { join } from 'node:path';

import type { HubFile } from './hub-client.js';
import { LoadError, type ModelRef } from '../loader-types.js';
import { ensureWritableDir, presentFiles, readOnlyCode, readRef, repoDir } from './model-cache.js';

/** What a load is about to fetch into the cache. */
export interface FetchInto {
  readonly cacheDir: string;
  readonly ref: ModelRef;
  /** The commit the files are of. */
  readonly commit: string;
  /** Its snapshot directory. */
  readonly snapshot: string;
  readonly files: readonly HubFile[];
}

/**
 * Resolves when every file is present, or when the cache can take the missing ones (its `blobs/` and the snapshot
 * directory are made, and are writable). Rejects with CACHE_NOT_WRITABLE otherwise: for a read-only cache, one that
 * names it, the model and the files it lacks, and what to do.
 */
export async function ensureCanFetch(into: FetchInto): Promise<void> {
  const present = await presentFiles(into.snapshot, into.files);
  const missing = into.files.filter((file) => !present.has(file.path)).map((file) => file.path);
  if (missing.length === 0) return;
  for (const dir of [join(repoDir(into.cacheDir, into.ref), 'blobs'), into.snapshot]) {
    try {
      await ensureWritableDir(dir);
    } catch (error) {
      const code = await readOnlyCode(error, dir);
      if (code === undefined) throw error;
      throw await readOnlyError(into, missing, code, error);
    }
  }
}

async function readOnlyError(
  into: FetchInto,
  missing: readonly string[],
  code: string,
  error: unknown,
): Promise<LoadError> {
  const { cacheDir, ref, commit } = into;
  const shown = missing.length > 5 ? [...missing.slice(0, 5), `and ${missing.length - 5} more`] : missing;
  // When the revision moved on since the cache saw it, the cache still holds the commit it named then.
  const held = await readRef(cacheDir, ref).catch(() => undefined);
  const earlier =
    held !== undefined && held !== commit
      ? `; it holds ${ref.id} at commit ${held}, what ${ref.revision} named when it was filled, which --offline loads`
      : '';
  return new LoadError(
    'CACHE_NOT_WRITABLE',
    `the model cache at ${cacheDir} is read-only for this server (${code}: it cannot be written), and it lacks ` +
      `${shown.join(', ')} of ${ref.key} (commit ${commit}), which cannot be fetched into it: load a model it ` +
      `holds (GET /v1/models lists them), or point --cache-dir at a writable cache${earlier}`,
    { cause: error },
  );
}
