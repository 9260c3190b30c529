/**
 * One response body into the partial file, each byte where it belongs: socket chunks are written at their offset
 * without being copied, gathered into one `writev` of the chunks themselves once {@link FLUSH_BYTES} are waiting or
 * {@link FLUSH_MS} after the first of them (one write per socket chunk cost the main thread a tenth of a loopback
 * download). When writes fall behind, the socket is paused while its share of {@link highWaterBytes} waits for the
 * disk, so the memory a transfer holds is bounded whatever the file size. However the body ends (its end, a cut, a
 * stall, an abort, a yield), what arrived is written before the pump settles, so every byte received is kept; only a
 * failed write loses what was waiting.
 */

import { finished, type Readable } from 'node:stream';

import type { PartialFile } from './partial-file.js';

/**
 * Bytes the bodies of a transfer may have waiting for the disk, all together, before their sockets are paused: each of
 * `connections` bodies may have its share, between {@link FLUSH_BYTES} and 2 MiB. With as much again in the writes under
 * way, a transfer holds at most about 64 MiB of body bytes, whatever its connections and file sizes.
 */
export function highWaterBytes(connections: number): number {
  return Math.max(FLUSH_BYTES, Math.min(2 * 1024 * 1024, Math.floor((32 * 1024 * 1024) / connections)));
}

/** Waiting bytes are written once there are this many, */
const FLUSH_BYTES = 256 * 1024;
/** or this many milliseconds after the first of them arrived (a slow link's bytes reach the disk soon). */
const FLUSH_MS = 20;

/** Where one body goes. */
export interface PumpTarget {
  /** The offset of the body's first byte; advanced by every byte received. */
  pos: number;
  /**
   * The offset the body must not pass (excluded). It may be lowered while the body streams (another connection took
   * the rest of the range, `file-parts.ts`): the body is then cut there, and the pump resolves once the range up to
   * the new end is written.
   */
  end: number;
  /** Bytes waiting for the disk at which the socket is paused ({@link highWaterBytes}). */
  readonly highWater: number;
}

/** What the pump tells as bytes go by. */
export interface PumpListener {
  /** `bytes` arrived (not yet written). */
  received(bytes: number): void;
  /** `bytes` of those were written. */
  written(bytes: number): void;
  /** More bytes arrived than the range holds; the error to fail with. */
  overflow(): Error;
}

/**
 * Writes `body` into `file` from `target.pos` on; resolves at the body's end with everything written, rejects with the
 * body's error (a cut, an abort) or a write's, once every byte received is written (or a write failed). `askedEnd` is
 * the end its request asked for, when `target.end` may have been lowered since.
 */
export function pumpBody(
  body: Readable,
  file: PartialFile,
  target: PumpTarget,
  listener: PumpListener,
  askedEnd = target.end,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let writeAt = target.pos;
    let writing = false;
    let ended = false;
    let bodyError: unknown;
    let writeError: { readonly error: unknown } | undefined;
    let timer: NodeJS.Timeout | undefined;
    // `askedEnd` is the end the request asked for (excluded): bytes past a lowered `target.end` but within it are the
    // part given away, not an overflow.
    let trimmed = false;

    const settle = (): void => {
      if (!ended || writing || (pending.length > 0 && writeError === undefined)) return;
      if (writeError !== undefined) reject(writeError.error);
      else if (bodyError !== undefined && bodyError !== null) reject(bodyError);
      else resolve();
    };
    const flush = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (writing || pending.length === 0 || writeError !== undefined) {
        settle();
        return;
      }
      const chunks = pending;
      const bytes = pendingBytes;
      const at = writeAt;
      pending = [];
      pendingBytes = 0;
      writeAt += bytes;
      writing = true;
      file.write(at, chunks).then(
        () => {
          writing = false;
          listener.written(bytes);
          if (!ended && body.isPaused()) body.resume();
          if (ended || pendingBytes >= FLUSH_BYTES) flush();
          else later();
        },
        (error: unknown) => {
          writing = false;
          writeError ??= { error };
          body.destroy(error as Error);
          settle();
        },
      );
    };

    const later = (): void => {
      if (timer !== undefined || pending.length === 0) return;
      timer = setTimeout(flush, FLUSH_MS);
    };

    body.on('data', (received: Buffer) => {
      if (writeError !== undefined) return;
      const chunk = within(received, target, askedEnd);
      if (chunk === 'overflow') return void body.destroy(listener.overflow());
      if (chunk.length < received.length) {
        trimmed = true;
        body.destroy();
        if (chunk.length === 0) return;
      }
      pending.push(chunk);
      pendingBytes += chunk.length;
      target.pos += chunk.length;
      listener.received(chunk.length);
      if (writing) {
        if (pendingBytes >= target.highWater) body.pause();
      } else if (pendingBytes >= FLUSH_BYTES) flush();
      else later();
    });
    finished(body, (error) => {
      ended = true;
      // A body cut where the range was lowered ended as asked: its premature close is no failure.
      bodyError = trimmed ? undefined : error;
      flush();
    });
  });
}

/**
 * What of `chunk` belongs in the target's range: all of it, its head up to a lowered `target.end` (the rest was given
 * to another connection), or `overflow` when it passes the end its request asked for.
 */
function within(chunk: Buffer, target: PumpTarget, askedEnd: number): Buffer | 'overflow' {
  if (target.pos + chunk.length <= target.end) return chunk;
  if (target.pos + chunk.length > askedEnd) return 'overflow';
  return chunk.subarray(0, Math.max(0, target.end - target.pos));
}
