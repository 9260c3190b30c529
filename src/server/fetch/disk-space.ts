/**
 * The disk under the model cache: a load's download is checked against the free space before its first byte (the
 * total is known then), counting what the other downloads of this server still have to write, and fails at once with
 * `DISK_FULL`, naming both sizes, rather than filling the disk. A disk that fills up anyway (another program wrote to
 * it, or another server shares it) fails the load with `DISK_FULL` too; `snapshot-download.ts` then removes the load's
 * partial files, so that the disk is not left full for the next load.
 */

import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';

import { LoadError } from '../loader-types.js';
import { errorCodeOf } from './error-code.js';
import type { DiskClaim, Transfer } from './transfer.js';

/** Bytes free for this user on the file system holding `dir`; `undefined` when it cannot be told. */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const info = await statfs(dir);
    return info.bavail * info.bsize;
  } catch {
    return undefined;
  }
}

/** A claim on the disk, given back when the load's download ends. */
export interface HeldClaim {
  release(): void;
}

/**
 * Checks that `needed` bytes fit on the disk of `cacheDir` (of its folder `blobs`, when that exists already) beside
 * what the transfer's other downloads still have to write, and registers this download's claim (what `remaining()` says
 * it still has to write). Rejects with `DISK_FULL` naming the sizes, and the partial downloads in the cache that take
 * room, when it does not fit.
 */
export async function claimDiskSpace(
  transfer: Transfer,
  cacheDir: string,
  blobs: string | undefined,
  needed: number,
  remaining: () => number,
  what: string,
): Promise<HeldClaim> {
  const free = (blobs === undefined ? undefined : await freeBytes(blobs)) ?? (await freeBytes(cacheDir));
  const others = [...transfer.claims].reduce((sum, claim) => sum + Math.max(0, claim.remaining()), 0);
  if (free !== undefined && needed > free - others) {
    const claimed = others > 0 ? `, and ${formatSize(others)} of that is still to be written by other downloads` : '';
    const partials = await partialBytes(cacheDir);
    const waiting =
      partials > 0
        ? `; partial downloads in the cache take ${formatSize(partials)} (load their models to finish them, or ` +
          'delete their blobs/*.modeldeck.incomplete files)'
        : '';
    throw new LoadError(
      'DISK_FULL',
      `not enough disk space to download ${what}: it needs ${formatSize(needed)} and the disk of the model cache at ` +
        `${cacheDir} has ${formatSize(free)} free${claimed}: free some space or pick another --cache-dir${waiting}`,
    );
  }
  const claim: DiskClaim = { remaining };
  transfer.claims.add(claim);
  return { release: () => transfer.claims.delete(claim) };
}

/** Whether `error` is the file system saying it is full (or the user's quota is). */
export function isDiskFull(error: unknown): boolean {
  const code = errorCodeOf(error);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * The `DISK_FULL` error of a write into the cache at `path` that found no space. Every download of the load then
 * removes its partial file (`downloader.ts`), so the message says so.
 */
export function diskFullError(error: unknown, path: string): LoadError {
  return new LoadError(
    'DISK_FULL',
    `the disk filled up while writing ${path} (${errorCodeOf(error) ?? 'ENOSPC'}): free some space or pick another ` +
      "--cache-dir (this load's partial downloads are removed, so that the disk is not left full)",
    { cause: error },
  );
}

/** Bytes the partial downloads of every repository under `cacheDir` take. */
async function partialBytes(cacheDir: string): Promise<number> {
  let total = 0;
  const repos = await readdir(cacheDir).catch(() => [] as string[]);
  for (const repo of repos) {
    if (!repo.includes('--')) continue;
    const blobs = join(cacheDir, repo, 'blobs');
    const entries = await readdir(blobs, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith('.modeldeck.incomplete')) continue;
      total += await stat(join(blobs, entry.name)).then(
        (info) => info.blocks * 512,
        () => 0,
      );
    }
  }
  return total;
}

/** A size for messages: `104.9 MB`, `950 kB`, `12 B`. */
export function formatSize(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} kB`;
  return `${bytes} B`;
}
