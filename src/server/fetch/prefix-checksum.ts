/**
 * The checksum of a file that fills in any order: the checksum thread (`hasher.ts`) is told to hash the contiguous
 * prefix of the partial file each time it grows, one range at a time, so it runs beside the download and at the end
 * only the bytes since its last range are left. A resumed download hashes what it resumed the same way (from the
 * disk: the only re-read). Measured on loopback against hashing the whole file once at the end: see the README's
 * benchmark notes.
 */

import { createHasher, type Hasher } from './hasher.js';

/** A running checksum of the prefix of one partial file. */
export interface PrefixChecksum {
  /** The prefix of the file now reaches `end` bytes: hash up to there (soon; the calls are not awaited). */
  advance(end: number): void;
  /** Hashes up to `size` (the whole file, which must be held) and resolves with the hex digest. */
  digest(size: number): Promise<string>;
  /** Drops the checksum; safe more than once. */
  dispose(): void;
}

/** What a file's bytes must hash to: an LFS sha256, or the git blob sha1 (`blob {size}\0` then the bytes). */
export type ChecksumAlgorithm = 'sha256' | 'git-sha1';

/** A {@link PrefixChecksum} of the file at `path`, `size` bytes long when whole. */
export function createPrefixChecksum(path: string, algorithm: ChecksumAlgorithm, size: number): PrefixChecksum {
  const hasher: Hasher = algorithm === 'git-sha1' ? createHasher('sha1', `blob ${size}\0`) : createHasher('sha256');
  let asked = 0;
  let target = 0;
  let running: Promise<void> | undefined;
  let failure: { readonly error: unknown } | undefined;
  const pump = (): void => {
    if (running !== undefined || failure !== undefined || target <= asked) return;
    const start = asked;
    const end = target;
    asked = end;
    running = hasher.hashFile(path, start, end).then(
      () => {
        running = undefined;
        pump();
      },
      (error: unknown) => {
        running = undefined;
        failure ??= { error };
      },
    );
  };
  return {
    advance(end) {
      target = Math.max(target, end);
      pump();
    },
    async digest(whole) {
      target = Math.max(target, whole);
      pump();
      while (running !== undefined) await running;
      if (failure !== undefined) throw failure.error;
      return hasher.digest();
    },
    dispose() {
      hasher.dispose();
    },
  };
}
