/**
 * Downloads one file of a repository into a blob of the Hugging Face cache: in ranged parts over several connections,
 * every byte kept where it belongs as it arrives, resumable from any stop, verified.
 *
 * - **Every byte kept.** Parts are written into `{blob}.modeldeck.incomplete` at their offsets as their bytes arrive
 *   (`file-parts.ts`, `body-pump.ts`), and a journal beside it says which ranges the file holds (`partial-file.ts`,
 *   `blob-journal.ts`). A download stopped any way (cancelled, failed, killed, the power cut) is resumed by the next
 *   one from the ranges its journal is believed for: only the holes are fetched. A journal that does not agree with its
 *   file is discarded, never trusted.
 * - **Shared connections.** Each part asks for a connection under its load and file (`fair-share.ts`); a part told to
 *   yield (for a flow holding fewer, or because it runs far below its siblings) stops and is asked again, keeping what
 *   it wrote. The file's later parts ask the CDN URL the hub redirected the first to, and ask the hub again when that
 *   link expires (`file-source.ts`).
 * - **Retries.** Resets, cut or truncated bodies, stalls, 5xx, 408 and 429 (each a `TransientError`) are retried with
 *   a capped exponential backoff (a 429 or 503 waits what its `Retry-After` or `RateLimit` header says), from the
 *   bytes the part already has; a part gives up after `DownloadPolicy.maxAttempts` attempts and the load fails
 *   (`download-retry.ts`, under the transfer's retry policy). A hub that ignores `Range` gets one plain stream.
 * - **Verification.** The checksum thread hashes the file's contiguous prefix from the disk as it grows
 *   (`prefix-checksum.ts`); the bytes must hash to the listing's sha256 (LFS files) or git blob sha1 (others). A
 *   mismatch is fetched once more from scratch and then fails the load with a checksum message. Only a verified file,
 *   synced to the disk, is renamed to its blob name, so a corrupt file never becomes a blob, let alone part of a
 *   snapshot.
 */

import { mkdir, rename, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

import { LoadError } from '../loader-types.js';
import { partialDataPath, removeJournal, removePartial } from './blob-journal.js';
import { blobLockPath, lockBlob } from './blob-lock.js';
import { highWaterBytes, pumpBody } from './body-pump.js';
import { diskFullError, isDiskFull } from './disk-space.js';
import { bodyError, checkLength, cutOff } from './download-failures.js';
import type { BlobProgress } from './download-progress.js';
import { abortReason, withRetries } from './download-retry.js';
import { fetchHoles, RangeIgnored } from './file-parts.js';
import { createFileSource, type FileSource } from './file-source.js';
import type { HubClient, HubFile, RepoRef } from './hub-client.js';
import { cacheWriteError } from './model-cache.js';
import { openPartialFile, type PartialFile } from './partial-file.js';
import { createPrefixChecksum, type PrefixChecksum } from './prefix-checksum.js';
import type { Transfer } from './transfer.js';

/** What the bytes of a file must hash to. */
export type ExpectedDigest =
  { readonly algorithm: 'sha256'; readonly hex: string } | { readonly algorithm: 'git-sha1'; readonly hex: string };

/** The expected digest of a listed file: its LFS sha256, else its git blob sha1, else none. */
export function expectedDigest(file: HubFile): ExpectedDigest | undefined {
  if (file.sha256 !== undefined) return { algorithm: 'sha256', hex: file.sha256 };
  if (file.oid !== undefined) return { algorithm: 'git-sha1', hex: file.oid };
  return undefined;
}

/** Options of {@link downloadBlob}. */
export interface BlobDownload {
  readonly hub: HubClient;
  /** The repository, with the commit as its revision. */
  readonly ref: RepoRef;
  /** The file, with its size in bytes and digests from the listing. */
  readonly file: HubFile;
  /** Where the verified file goes; `{blob}.modeldeck.incomplete` and its journal hold it meanwhile. */
  readonly blob: string;
  readonly transfer: Transfer;
  /**
   * The load this download is for: the transfer's connections are shared fairly between loads, then between the files
   * of a load. Default: a flow of its own.
   */
  readonly flow?: string | undefined;
  /** Aborts the download; what it received stays for the next one. The rejection is an `ABORTED` {@link LoadError}. */
  readonly signal?: AbortSignal | undefined;
  /** Where the bytes of the file this download has go: the load's `download` stage (`download-progress.ts`). */
  readonly progress?: BlobProgress | undefined;
}

const locks = new Map<string, Promise<unknown>>();

/**
 * Makes `blob` hold the file, verified. Resolves at once when the blob exists with the listed size. Rejects with a
 * {@link LoadError}: DOWNLOAD_FAILED (gave up, checksum), ABORTED, DISK_FULL (the partial file is then removed),
 * CACHE_NOT_WRITABLE, or the hub client's codes. Two downloads of one blob run one after the other (the second then
 * finds it complete): in this process by a promise chain, across processes sharing the cache by a lock file
 * (`blob-lock.ts`), which the partial file and its journal are only ever written under.
 */
export async function downloadBlob(options: BlobDownload): Promise<void> {
  const { blob } = options;
  const previous = locks.get(blob) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => downloadUnlocked(options));
  locks.set(blob, run);
  try {
    await run;
  } finally {
    if (locks.get(blob) === run) locks.delete(blob);
  }
}

async function downloadUnlocked(options: BlobDownload): Promise<void> {
  const { file, blob } = options;
  if (await isComplete(blob, file)) {
    options.progress?.report(file.path, file.size);
    return;
  }
  try {
    await mkdir(dirname(blob), { recursive: true });
  } catch (error) {
    throw cacheError(error, dirname(blob));
  }
  // Another process sharing the cache may be writing this blob: wait for it, then look again.
  const lock = await lockBlob(blob, options.signal).catch((error: unknown) => {
    if (options.signal?.aborted === true) throw abortReason(options.signal, error);
    throw cacheError(error, blobLockPath(blob));
  });
  try {
    if (await isComplete(blob, file)) options.progress?.report(file.path, file.size);
    else await fetchVerified(options);
  } catch (error) {
    // A full disk must not stay full because of this load: its partial file goes (under the lock, which no other
    // writer of it holds). A sibling file's DISK_FULL aborted this one with the same code.
    if (error instanceof LoadError && error.code === 'DISK_FULL') await removePartial(blob);
    throw error;
  } finally {
    await lock.release();
  }
}

/** The blob is there with the listed size (blobs only ever get there verified). */
async function isComplete(blob: string, file: HubFile): Promise<boolean> {
  const existing = await stat(blob).catch(() => undefined);
  return existing?.isFile() === true && existing.size === file.size;
}

/** Downloads `blob` into its partial file, checks it (fetching it again once on a mismatch), and renames it. */
async function fetchVerified(options: BlobDownload): Promise<void> {
  const { file, blob } = options;
  const expected = expectedDigest(file);
  for (let round = 1; ; round += 1) {
    const digest = await fetchPartial(options, expected);
    if (expected === undefined || digest === expected.hex) break;
    // Never kept: a corrupt range would be resumed forever.
    await removePartial(blob);
    if (round >= 2) {
      throw new LoadError(
        'DOWNLOAD_FAILED',
        `download of ${file.path} failed its checksum twice: its ${expected.algorithm} is ${digest}, the hub lists ` +
          `${expected.hex}; the hub or the network corrupts it, retry later`,
      );
    }
  }
  try {
    await rename(partialDataPath(blob), blob);
  } catch (error) {
    throw cacheError(error, blob);
  }
  // After the rename: a crash in between leaves a journal of a missing file, which is discarded.
  await removeJournal(blob);
}

/** The state of one try at the whole file. */
interface Fetching {
  readonly options: BlobDownload;
  readonly source: FileSource;
  readonly partial: PartialFile;
  readonly flow: readonly string[];
  /** Bytes received and not yet written. */
  inMemory: number;
}

/** One try at the whole file: resumes the partial file, fetches its holes, returns the hex digest of its bytes. */
async function fetchPartial(options: BlobDownload, expected: ExpectedDigest | undefined): Promise<string> {
  const { file, blob } = options;
  const newChecksum = (): PrefixChecksum | undefined =>
    expected === undefined ? undefined : createPrefixChecksum(partialDataPath(blob), expected.algorithm, file.size);
  // Follows the partial file's prefix from its first byte (what was resumed included).
  const hashing = { checksum: newChecksum() };
  let partial: PartialFile;
  try {
    partial = await openPartialFile(blob, basename(blob), file.size, options.transfer.policy, (prefix) =>
      hashing.checksum?.advance(prefix),
    );
  } catch (error) {
    hashing.checksum?.dispose();
    throw cacheError(error, partialDataPath(blob));
  }
  const fetching: Fetching = {
    options,
    source: createFileSource(options.hub, options.ref, file.path),
    partial,
    flow: [options.flow ?? `blob ${blob}`, file.path],
    inMemory: 0,
  };
  const received = (bytes: number): void => {
    fetching.inMemory += bytes;
    options.progress?.report(file.path, partial.held + fetching.inMemory);
  };
  const written = (bytes: number): void => {
    fetching.inMemory -= bytes;
  };
  try {
    options.progress?.report(file.path, partial.held);
    try {
      const { source, flow } = fetching;
      const { transfer, signal } = options;
      await fetchHoles({ file, source, partial, transfer, flow, signal, received, written });
    } catch (error) {
      if (!(error instanceof RangeIgnored)) throw error;
      await fetchWhole(fetching, () => {
        hashing.checksum?.dispose();
        hashing.checksum = newChecksum();
      });
    }
    if (partial.held !== file.size) throw cutOff(file, partial.held, undefined);
    await partial.close('complete');
    return (await hashing.checksum?.digest(file.size)) ?? '';
  } catch (error) {
    await partial.close('keep').catch(() => undefined);
    throw cacheError(error, partial.path);
  } finally {
    hashing.checksum?.dispose();
  }
}

/**
 * The fallback for hubs that ignore `Range`: the whole file in one stream, from its first byte on every try (the
 * partial file emptied, and the checksum started again by `restart`).
 */
async function fetchWhole(fetching: Fetching, restart: () => void): Promise<void> {
  const { options, partial } = fetching;
  const { file } = options;
  const signal = options.signal ?? new AbortController().signal;
  await withRetries(
    options.transfer,
    file,
    signal,
    { flow: fetching.flow, yielder: new AbortController(), preemptible: false },
    async (request, refresh) => {
      await partial.reset();
      restart();
      fetching.inMemory = 0;
      options.progress?.report(file.path, 0);
      const response = await fetching.source.open(undefined, request);
      checkLength(response, file, file.size);
      const target = { pos: 0, end: file.size, highWater: highWaterBytes(options.transfer.policy.connections) };
      try {
        await pumpBody(response.body, partial, target, {
          received: (bytes) => {
            refresh();
            fetching.inMemory += bytes;
            options.progress?.report(file.path, partial.held + fetching.inMemory);
          },
          written: (bytes) => (fetching.inMemory -= bytes),
          overflow: () =>
            new LoadError('DOWNLOAD_FAILED', `download of ${file.path} sent more than the ${file.size} bytes listed`),
        });
      } catch (error) {
        if (isFsError(error)) throw error;
        throw bodyError(error, request, file, target.pos);
      }
      if (target.pos < file.size) throw cutOff(file, target.pos, undefined);
    },
  );
}

/** A failure as the load's error: a LoadError as it is, a full disk as DISK_FULL, another file system error named. */
function cacheError(error: unknown, path: string): unknown {
  if (error instanceof LoadError) return error;
  if (isDiskFull(error)) return diskFullError(error, path);
  if (isFsError(error)) return cacheWriteError(error, path);
  return error;
}

function isFsError(error: unknown): boolean {
  return typeof (error as { syscall?: unknown } | null)?.syscall === 'string';
}
