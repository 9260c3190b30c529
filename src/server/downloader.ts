/**
 * Downloads repository files into a snapshot directory, atomically: each file streams (with backpressure) into
 * `{file}.tmp-{random}` and is renamed to its real name only when its byte count equals both `Content-Length` and
 * the listing size. Truncated bodies, connection resets, stalls and aborts delete the temporary file, so nothing that
 * looks complete is ever left behind.
 */

import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { HubClient, HubFile, RepoRef } from './hub-client.js';
import { errorCodeOf } from './hub-client.js';
import { LoadError } from './loader-types.js';
import { cacheWriteError, isSafeRelativePath } from './model-cache.js';

/** Default for {@link DownloadOptions.stallTimeoutMs}, in milliseconds. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/**
 * Bytes the file stream may buffer before the download waits for the disk. With fs streams' default of 16 KiB every
 * 64 KiB network chunk waited for its write to finish before the next one was read, so network and disk took turns.
 */
const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  readonly hub: HubClient;
  readonly ref: RepoRef;
  /** The file, with its size in bytes from the listing. */
  readonly file: HubFile;
  /** Snapshot directory; the file lands at `{dir}/{file.path}`. */
  readonly dir: string;
  /** A download that receives no byte for this long, in milliseconds, fails as stalled. */
  readonly stallTimeoutMs?: number | undefined;
  /** Aborts the download (the temporary file is deleted); the rejection is an `ABORTED` {@link LoadError}. */
  readonly signal?: AbortSignal | undefined;
  /** Called after each chunk is written, with the chunk's size in bytes. */
  readonly onBytes?: ((bytes: number) => void) | undefined;
}

/** What a finished download learnt. */
export interface DownloadResult {
  /** The commit the hub served the file from (`X-Repo-Commit`), when it said. */
  readonly commit?: string;
}

/** Downloads one file; rejects with a {@link LoadError} (DOWNLOAD_FAILED, ABORTED, CACHE_NOT_WRITABLE, hub codes). */
export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const { hub, ref, file, dir, signal, onBytes } = options;
  const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  if (!isSafeRelativePath(file.path)) {
    throw new LoadError('HUB_ERROR', `the hub listed a file with an unsafe path, ${JSON.stringify(file.path)}`);
  }
  const target = join(dir, ...file.path.split('/'));
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  let received = 0;

  const controller = new AbortController();
  const onAbort = (): void =>
    controller.abort(new LoadError('ABORTED', `download of ${file.path} was aborted`, { cause: signal?.reason }));
  if (signal?.aborted === true) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  // The timer covers the wait for headers too: a hub that accepts the connection and says nothing is stalled.
  const stall = setTimeout(() => {
    controller.abort(
      new LoadError(
        'DOWNLOAD_FAILED',
        `download of ${file.path} stalled: no data for ${formatSeconds(stallTimeoutMs)} ` +
          `after ${received} of ${file.size} bytes; retry`,
      ),
    );
  }, stallTimeoutMs);

  let out: WriteStream | undefined;
  try {
    const response = await hub.openFile(ref, file.path, controller.signal);
    const lengthHeader = response.headers.get('content-length');
    if (lengthHeader !== null && Number(lengthHeader) !== file.size) {
      await response.body?.cancel().catch(() => undefined);
      throw new LoadError(
        'DOWNLOAD_FAILED',
        `the hub announced ${lengthHeader} bytes for ${file.path} but its file list says ${file.size}; retry`,
      );
    }
    const commit = response.headers.get('x-repo-commit') ?? undefined;

    try {
      await mkdir(dirname(target), { recursive: true });
    } catch (error) {
      throw cacheWriteError(error, dirname(target));
    }
    out = createWriteStream(temp, { flags: 'wx', highWaterMark: WRITE_BUFFER_BYTES });
    const writeFailed = failureOf(out);
    await Promise.race([opened(out), writeFailed]);

    if (response.body !== null) {
      try {
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
          stall.refresh();
          received += chunk.byteLength;
          if (received > file.size) {
            throw new LoadError(
              'DOWNLOAD_FAILED',
              `download of ${file.path} sent more than the ${file.size} bytes listed; retry`,
            );
          }
          if (!out.write(chunk)) await Promise.race([drained(out), writeFailed]);
          onBytes?.(chunk.byteLength);
        }
      } catch (error) {
        if (error instanceof LoadError) throw error;
        if (controller.signal.aborted) throw abortReason(controller.signal, error);
        if (isFsError(error)) throw cacheWriteError(error, temp);
        throw cutOff(file, received, error);
      }
    }
    if (received !== file.size) throw cutOff(file, received, undefined);
    await Promise.race([closed(out), writeFailed]);
    try {
      await rename(temp, target);
    } catch (error) {
      throw cacheWriteError(error, target);
    }
    return commit === undefined ? {} : { commit };
  } catch (error) {
    out?.destroy();
    await unlink(temp).catch(() => undefined);
    if (error instanceof LoadError) throw error;
    if (controller.signal.aborted) throw abortReason(controller.signal, error);
    throw cacheWriteError(error, temp);
  } finally {
    clearTimeout(stall);
    signal?.removeEventListener('abort', onAbort);
  }
}

function cutOff(file: HubFile, received: number, cause: unknown): LoadError {
  const code = errorCodeOf(cause);
  return new LoadError(
    'DOWNLOAD_FAILED',
    `download of ${file.path} was cut off after ${received} of ${file.size} bytes` +
      `${code === undefined ? '' : ` (${code})`}; retry`,
    { cause },
  );
}

function abortReason(signal: AbortSignal, error: unknown): LoadError {
  const reason: unknown = signal.reason;
  return reason instanceof LoadError ? reason : new LoadError('ABORTED', 'download was aborted', { cause: error });
}

function isFsError(error: unknown): boolean {
  return typeof (error as { syscall?: unknown } | null)?.syscall === 'string';
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function opened(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => stream.once('open', () => resolve()));
}

function drained(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => stream.once('drain', () => resolve()));
}

/** Ends the stream and waits until its file descriptor is closed, so the rename sees every byte. */
function closed(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    stream.end();
  });
}

/** A promise that rejects when the stream fails; it never resolves. Handled so it never goes unobserved. */
function failureOf(stream: WriteStream): Promise<never> {
  const failure = new Promise<never>((_, reject) => stream.once('error', reject));
  failure.catch(() => undefined);
  return failure;
}
