/**
 * One writer per blob across processes. Two servers sharing one Hugging Face cache (a common setup: one box, one
 * `~/.cache/huggingface`) would otherwise write the same partial file (`{blob}.modeldeck.incomplete`) and its journal
 * at once. The lock is a file created
 * exclusively under the cache's `.locks/` folder, where huggingface_hub keeps its own locks, named
 * `{etag}.modeldeck.lock` (huggingface_hub's `{etag}.lock` files stay behind after use, so they cannot be taken as
 * "held"). It holds the owner's pid and host; a lock whose owner on this host is gone (a server killed with SIGKILL)
 * is stale and taken over, and so is one of another host once neither it nor the partial file it guards changed for
 * {@link REMOTE_STALE_MS}.
 */

import { hostname } from 'node:os';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { journalPath, partialDataPath } from './blob-journal.js';
import { errorCodeOf } from './error-code.js';

/** How often a waiting download looks at a held lock, in milliseconds. */
const POLL_MS = 200;

/** An empty lock file older than this was left by a process that died between creating and writing it. */
const EMPTY_STALE_MS = 10_000;

/**
 * A lock of another host (whose process cannot be checked from here) is stale when neither it nor the blob's
 * partial file and journal changed for this long: its writer is gone or stuck.
 */
export const REMOTE_STALE_MS = 120_000;

/** The lock file of `blob` (`{cache}/models--o--n/blobs/{etag}` → `{cache}/.locks/models--o--n/{etag}.modeldeck.lock`). */
export function blobLockPath(blob: string): string {
  const repoDir = dirname(dirname(blob));
  return join(dirname(repoDir), '.locks', basename(repoDir), `${basename(blob)}.modeldeck.lock`);
}

/** A held lock; {@link BlobLock.release} is safe to call more than once. */
export interface BlobLock {
  release(): Promise<void>;
}

/**
 * Takes the lock of `blob`, waiting while another live process holds it. Rejects with the signal's reason when
 * aborted while waiting, or with the file system's error.
 */
export async function lockBlob(blob: string, signal?: AbortSignal): Promise<BlobLock> {
  const path = blobLockPath(blob);
  await mkdir(dirname(path), { recursive: true });
  const me = JSON.stringify({ pid: process.pid, host: hostname() });
  for (;;) {
    signal?.throwIfAborted();
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(me);
      } finally {
        await handle.close();
      }
      let held = true;
      return {
        async release() {
          if (!held) return;
          held = false;
          await unlink(path).catch(() => undefined);
        },
      };
    } catch (error) {
      if (errorCodeOf(error) !== 'EEXIST') throw error;
    }
    const owner = await readFile(path, 'utf8').catch(() => undefined);
    if (owner === undefined) continue; // released between our two calls
    if (await isStale(path, blob, owner)) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    await sleep(POLL_MS, undefined, signal ? { signal } : {});
  }
}

/** A lock of this host whose process is gone, or one left half-written by a crash. */
async function isStale(path: string, blob: string, text: string): Promise<boolean> {
  let owner: { pid?: unknown; host?: unknown };
  try {
    owner = JSON.parse(text) as typeof owner;
  } catch {
    // Created by `open`, then written: an empty file is one being written now, unless it is old.
    if (text !== '') return true;
    const made = await stat(path).catch(() => undefined);
    return made !== undefined && Date.now() - made.mtimeMs > EMPTY_STALE_MS;
  }
  if (typeof owner.pid !== 'number') return false;
  if (owner.host !== hostname()) {
    const times = await Promise.all(
      [path, partialDataPath(blob), journalPath(blob)].map((p) =>
        stat(p).then(
          (s) => s.mtimeMs,
          () => 0,
        ),
      ),
    );
    return Date.now() - Math.max(...times) > REMOTE_STALE_MS;
  }
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return errorCodeOf(error) === 'ESRCH';
  }
}
