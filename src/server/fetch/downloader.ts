/**
 * Downloads one file of a repository into a blob of the Hugging Face cache: in ranged parts over several connections,
 * resumable, verified.
 *
 * - **Parts.** The file is fetched as consecutive byte ranges, each into a buffer of its own, over up to
 *   {@link Transfer}'s connections at once (`transfer.ts`); finished parts are appended to `{blob}.incomplete` strictly in order, so
 *   that file is always a prefix of the blob and the checksum is computed as the bytes arrive, with no second read.
 *   The bytes held in buffers are bounded by the transfer's memory budget, whatever the file size; a buffer the
 *   checksum thread is done with serves a later part (a file larger than the budget reuses the same memory). A hub
 *   that ignores `Range` (answers 200 to a ranged request) gets one plain stream instead.
 * - **Checksums beside the sockets.** Each part, once written, goes to the checksum thread (`hasher.ts`), which hashes
 *   it while the next parts arrive; its memory budget is freed when it is hashed.
 * - **Retries.** Resets, cut or truncated bodies, stalls, 5xx, 408 and 429 (each a `TransientError`) are retried with
 *   a capped exponential backoff (a 429 or 503 waits what its `Retry-After` or `RateLimit` header says), from the
 *   bytes the part already has; a part gives up after `DownloadPolicy.maxAttempts` attempts and the load fails
 *   (`download-retry.ts`, under the transfer's retry policy).
 * - **Resume.** Whatever an attempt left in `.incomplete` (also after the process was killed) is kept: the next
 *   download hashes that prefix from the disk (the only re-read) and fetches the rest.
 * - **Verification.** The bytes must hash to the listing's sha256 (LFS files) or git blob sha1 (others); a mismatch is
 *   fetched once more from scratch and then fails the load with a checksum message. Only a verified file is renamed
 *   to its blob name, so a corrupt file never becomes a blob, let alone part of a snapshot.
 */

import { setMaxListeners } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { finished, type Readable } from 'node:stream';

import { LoadError } from '../loader-types.js';
import { blobLockPath, lockBlob } from './blob-lock.js';
import type { BlobProgress } from './download-progress.js';
import { abortReason, withRetries } from './download-retry.js';
import { errorCodeOf } from './error-code.js';
import { createHasher, type Hasher } from './hasher.js';
import type { FileResponse, HubClient, HubFile, RepoRef } from './hub-client.js';
import { cacheWriteError } from './model-cache.js';
import { giveBuffer, MAX_PART_BYTES, MIN_PART_BYTES, takeBuffer, type Transfer } from './transfer.js';
import { TransientError } from './transient-error.js';

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
  /** Where the verified file goes; `{blob}.incomplete` holds it meanwhile. */
  readonly blob: string;
  readonly transfer: Transfer;
  /** Aborts the download; `.incomplete` stays for the next one. The rejection is an `ABORTED` {@link LoadError}. */
  readonly signal?: AbortSignal | undefined;
  /** Where the bytes of the file this download has go: the load's `download` stage (`download-progress.ts`). */
  readonly progress?: BlobProgress | undefined;
}

/** Path of the partial download of `blob`, huggingface_hub's name for it. */
export function incompletePath(blob: string): string {
  return `${blob}.incomplete`;
}

const locks = new Map<string, Promise<unknown>>();

/**
 * Makes `blob` hold the file, verified. Resolves at once when the blob exists with the listed size. Rejects with a
 * {@link LoadError}: DOWNLOAD_FAILED (gave up, checksum), ABORTED, CACHE_NOT_WRITABLE, or the hub client's codes.
 * Two downloads of one blob run one after the other (the second then finds it complete): in this process by a
 * promise chain, across processes sharing the cache by a lock file (`blob-lock.ts`).
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
    throw cacheWriteError(error, dirname(blob));
  }
  // Another process sharing the cache may be writing this blob: wait for it, then look again.
  const lock = await lockBlob(blob, options.signal).catch((error: unknown) => {
    if (options.signal?.aborted === true) throw abortReason(options.signal, error);
    throw cacheWriteError(error, blobLockPath(blob));
  });
  try {
    if (await isComplete(blob, file)) options.progress?.report(file.path, file.size);
    else await fetchVerified(options);
  } finally {
    await lock.release();
  }
}

/** The blob is there with the listed size (blobs only ever get there verified). */
async function isComplete(blob: string, file: HubFile): Promise<boolean> {
  const existing = await stat(blob).catch(() => undefined);
  return existing?.isFile() === true && existing.size === file.size;
}

/** Downloads `blob` into `.incomplete`, checks it (fetching it again once on a mismatch), and renames it. */
async function fetchVerified(options: BlobDownload): Promise<void> {
  const { file, blob } = options;
  const expected = expectedDigest(file);
  const partial = incompletePath(blob);
  for (let round = 1; ; round += 1) {
    const digest = await fetchIncomplete(options, partial, expected);
    if (expected === undefined || digest === expected.hex) break;
    // Never kept: a corrupt prefix would be resumed forever.
    await unlink(partial).catch(() => undefined);
    if (round >= 2) {
      throw new LoadError(
        'DOWNLOAD_FAILED',
        `download of ${file.path} failed its checksum twice: its ${expected.algorithm} is ${digest}, the hub lists ` +
          `${expected.hex}; the hub or the network corrupts it, retry later`,
      );
    }
  }
  try {
    await rename(partial, blob);
  } catch (error) {
    throw cacheWriteError(error, blob);
  }
}

/** One try at the whole file: resumes `partial`, fetches the rest, returns the hex digest of its bytes. */
async function fetchIncomplete(
  options: BlobDownload,
  partial: string,
  expected: ExpectedDigest | undefined,
): Promise<string> {
  const { file } = options;
  let handle: FileHandle;
  let writer: Writer | undefined;
  try {
    // Not append mode: positional writes must land where they say (O_APPEND ignores the position on Linux).
    handle = await open(partial, 'r+').catch((error: unknown) => {
      if (errorCodeOf(error) === 'ENOENT') return open(partial, 'w+');
      throw error;
    });
  } catch (error) {
    throw cacheWriteError(error, partial);
  }
  try {
    let have = (await handle.stat()).size;
    if (have > file.size) {
      await handle.truncate(0);
      have = 0;
    }
    writer = { handle, hash: newHash(file, expected), written: 0 };
    if (have > 0) {
      // One chunk on the thread at a time: a prefix of gigabytes must not queue up in memory.
      const reading = createReadStream(partial, { start: 0, end: have - 1, highWaterMark: PREFIX_CHUNK_BYTES });
      for await (const chunk of reading) await writer.hash.update(chunk as Buffer);
      writer.written = have;
    }
    options.progress?.report(file.path, writer.written);
    try {
      await fetchParts(options, writer);
    } catch (error) {
      if (!(error instanceof RangeIgnored)) throw error;
      await fetchStream(options, writer);
    }
    if (writer.written !== file.size) throw cutOff(file, writer.written, undefined);
    return await writer.hash.digest();
  } catch (error) {
    if (error instanceof LoadError) throw error;
    if (isFsError(error)) throw cacheWriteError(error, partial);
    throw error;
  } finally {
    writer?.hash.dispose();
    await handle.close().catch(() => undefined);
  }
}

/** Where the verified prefix of the file stands. */
interface Writer {
  readonly handle: FileHandle;
  hash: Hasher;
  /** Bytes in `.incomplete`, all hashed. */
  written: number;
}

/** Bytes of `.incomplete` read per chunk when a resumed download hashes its prefix. */
const PREFIX_CHUNK_BYTES = 4 * 1024 * 1024;

function newHash(file: HubFile, expected: ExpectedDigest | undefined): Hasher {
  if (expected?.algorithm === 'git-sha1') return createHasher('sha1', `blob ${file.size}\0`);
  return createHasher('sha256');
}

/**
 * Writes `bytes` at the end of the verified prefix and hands them to the checksum thread (with `move`, a part buffer
 * of this module's is detached: not to be used after). Resolves once written, with a promise that settles once they
 * are hashed, with the moved buffer given back.
 */
async function append(
  writer: Writer,
  bytes: Buffer,
  move = false,
): Promise<{ readonly hashed: Promise<Uint8Array | undefined> }> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await writer.handle.write(bytes, offset, bytes.length - offset, writer.written + offset);
    offset += bytesWritten;
  }
  writer.written += bytes.length;
  const hashed = writer.hash.update(bytes, move);
  // Observed here: a dead checksum thread fails the digest, which every download awaits.
  hashed.catch(() => undefined);
  return { hashed };
}

/** Abort listeners one signal may have without a warning: a few per part in flight. */
export const LISTENERS = 1000;

/** A ranged request was answered with the whole file: the hub ignores `Range`. */
class RangeIgnored extends Error {}

interface Part {
  readonly start: number;
  readonly length: number;
  readonly buffer: Buffer;
  received: number;
  done: Promise<void>;
}

/**
 * Parts per connection: two keep every connection of a CDN link busy to the end (the shaped benchmark is as full as
 * with 8: 0.98 of the link), and on a fast link need a quarter of the requests (loopback, with fetch bodies: 0.68 of a
 * raw GET against 0.49 with 8; with `node:http` bodies, parts of 2 or 4 MiB instead of ~6 MiB still lost 0.1–0.3).
 */
const PARTS_PER_CONNECTION = 2;

function partBytes(size: number, connections: number): number {
  const even = Math.ceil(size / (connections * PARTS_PER_CONNECTION));
  return Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, Math.ceil(even / 65536) * 65536));
}

/** Fetches `[writer.written, size)` in parts, appending each in order. */
async function fetchParts(options: BlobDownload, writer: Writer): Promise<void> {
  const { file, transfer, signal } = options;
  const size = file.size;
  const partSize = partBytes(size, transfer.policy.connections);
  const window = 2 * transfer.policy.connections;
  const controller = new AbortController();
  // Every part in flight and every wait for a connection listens to it: many, by design.
  setMaxListeners(LISTENERS, controller.signal);
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const inFlight: Part[] = [];
  const report = (): void => {
    let bytes = writer.written;
    for (const part of inFlight) bytes += part.received;
    options.progress?.report(file.path, bytes);
  };
  let next = writer.written;
  try {
    while (next < size || inFlight.length > 0) {
      while (next < size && inFlight.length < window) {
        const length = Math.min(partSize, size - next);
        // Waiting for memory while parts of this file hold it could wait forever: then write the first part instead.
        if (inFlight.length === 0) await transfer.memory.acquire(length, controller.signal);
        else if (!transfer.memory.tryAcquire(length)) break;
        const buffer = takeBuffer(transfer.buffers, length);
        const part: Part = { start: next, length, buffer, received: 0, done: undefined! };
        part.done = fetchPart(options, part, controller.signal, report);
        // Observed here; awaited in order below.
        part.done.catch(() => undefined);
        inFlight.push(part);
        next += length;
      }
      const head = inFlight[0];
      if (head === undefined) continue;
      await head.done;
      inFlight.shift();
      // The part's budget and buffer are held until the checksum thread has hashed it (or the write failed).
      const release = (buffer: Uint8Array | undefined): void => {
        transfer.memory.release(head.length);
        giveBuffer(transfer.buffers, buffer);
      };
      const { hashed } = await append(writer, head.buffer, true).catch((error: unknown) => {
        release(head.buffer);
        throw error;
      });
      hashed.then(release, () => release(undefined));
      report();
    }
  } catch (error) {
    controller.abort(error);
    await Promise.allSettled(inFlight.map((part) => part.done));
    // What arrived in order stays on the disk: the next download resumes from it.
    for (const part of inFlight) {
      if (error instanceof RangeIgnored || part.start !== writer.written) break;
      // Copied to the thread (not moved): the buffer's budget is released below, with the others in flight.
      await append(writer, part.buffer.subarray(0, part.received)).catch(() => undefined);
      if (part.received < part.length) break;
    }
    throw error;
  } finally {
    for (const part of inFlight) {
      transfer.memory.release(part.length);
      giveBuffer(transfer.buffers, part.buffer);
    }
    inFlight.length = 0;
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Fetches one part into its buffer, retrying from the bytes it has. */
async function fetchPart(options: BlobDownload, part: Part, signal: AbortSignal, report: () => void): Promise<void> {
  const { file } = options;
  await withRetries(options.transfer, file, signal, async (requestSignal, refresh) => {
    const from = part.start + part.received;
    const end = part.start + part.length - 1;
    const response = await options.hub.openFile(options.ref, file.path, requestSignal, { start: from, end });
    if (response.status === 200 && !(from === 0 && end === file.size - 1)) {
      response.cancel();
      throw new RangeIgnored();
    }
    checkLength(response, file, end - from + 1);
    try {
      await readBody(response.body, (chunk) => {
        refresh();
        if (part.received + chunk.length > part.length) {
          throw new LoadError('DOWNLOAD_FAILED', `download of ${file.path} sent more bytes than it asked for; retry`);
        }
        chunk.copy(part.buffer, part.received);
        part.received += chunk.length;
        report();
      });
    } catch (error) {
      throw bodyError(error, requestSignal, file, part.start + part.received);
    }
    if (part.received < part.length) throw cutOff(file, part.start + part.received, undefined);
  });
}

/** The fallback for hubs that ignore `Range`: the whole file in one stream, from its first byte on every try. */
async function fetchStream(options: BlobDownload, writer: Writer): Promise<void> {
  const { file, signal } = options;
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await withRetries(options.transfer, file, controller.signal, async (requestSignal, refresh) => {
      await writer.handle.truncate(0);
      writer.written = 0;
      writer.hash.dispose();
      writer.hash = newHash(file, expectedDigest(file));
      // One chunk on the checksum thread at a time, so a slow thread holds back the socket, not memory.
      let hashing: Promise<unknown> = Promise.resolve();
      options.progress?.report(file.path, 0);
      const response = await options.hub.openFile(options.ref, file.path, requestSignal);
      checkLength(response, file, file.size);
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          refresh();
          if (writer.written + chunk.length > file.size) {
            throw new LoadError(
              'DOWNLOAD_FAILED',
              `download of ${file.path} sent more than the ${file.size} bytes listed`,
            );
          }
          await hashing;
          ({ hashed: hashing } = await append(writer, chunk));
          options.progress?.report(file.path, writer.written);
        }
      } catch (error) {
        if (isFsError(error)) throw error;
        throw bodyError(error, requestSignal, file, writer.written);
      }
      if (writer.written < file.size) throw cutOff(file, writer.written, undefined);
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Hands each chunk of `body` to `onChunk` as it arrives (no backpressure: `onChunk` copies it away at once); resolves
 * at its end, rejects with the body's error, a premature close, or what `onChunk` threw (which stops the body).
 */
function readBody(body: Readable, onChunk: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    body.on('data', (chunk: Buffer) => {
      try {
        onChunk(chunk);
      } catch (error) {
        body.destroy(error as Error);
      }
    });
    finished(body, (error) => (error === undefined || error === null ? resolve() : reject(error)));
  });
}

/** Throws (and cancels the body) when the answer's length disagrees with the listing or with the bytes asked for. */
function checkLength(response: FileResponse, file: HubFile, expected: number): void {
  const total = /\/(\d+)\s*$/.exec(response.headers.get('content-range') ?? '')?.[1];
  const lengthHeader = response.headers.get('content-length');
  const announced = total ?? (response.status === 200 ? lengthHeader : null);
  if (announced !== null && announced !== undefined && Number(announced) !== file.size) {
    response.cancel();
    throw new LoadError(
      'DOWNLOAD_FAILED',
      `the hub announced ${announced} bytes for ${file.path} but its file list says ${file.size}; retry`,
    );
  }
  if (lengthHeader !== null && Number(lengthHeader) !== expected) {
    response.cancel();
    throw new TransientError(
      'DOWNLOAD_FAILED',
      `the hub sent ${lengthHeader} bytes of ${file.path} for ${expected} asked; retry`,
      'cut',
    );
  }
}

function bodyError(error: unknown, signal: AbortSignal, file: HubFile, at: number): unknown {
  if (error instanceof LoadError) return error;
  if (signal.aborted) return abortReason(signal, error);
  return cutOff(file, at, error);
}

function cutOff(file: HubFile, received: number, cause: unknown): LoadError {
  const code = errorCodeOf(cause);
  return new TransientError(
    'DOWNLOAD_FAILED',
    `download of ${file.path} was cut off after ${received} of ${file.size} bytes` +
      `${code === undefined ? '' : ` (${code})`}; retry`,
    'cut',
    undefined,
    { cause },
  );
}

function isFsError(error: unknown): boolean {
  return typeof (error as { syscall?: unknown } | null)?.syscall === 'string';
}
