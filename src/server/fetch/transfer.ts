/**
 * What the downloads of one loader share: the connections open at once, the memory held in part buffers (and the
 * buffers themselves, to use again), and how a request is tried again ({@link Transfer.retry}).
 */

import type { RetryPolicy } from '../../common/retry.js';
import { createSemaphore, type Semaphore } from './semaphore.js';
import { isTransient, retryAfterOf } from './transient-error.js';

/** Default for {@link DownloadPolicy.stallTimeoutMs}, in milliseconds. */
const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** Default for {@link DownloadPolicy.connections}: what hf_transfer-like tools use against a CDN. */
export const DEFAULT_DOWNLOAD_CONNECTIONS = 8;

/** How downloads behave; every field has a default. */
export interface DownloadPolicy {
  /** Connections open at once, over all files of the transfer (default {@link DEFAULT_DOWNLOAD_CONNECTIONS}). */
  readonly connections?: number | undefined;
  /** A request that receives no byte for this long, in milliseconds, is abandoned and retried (default 30000). */
  readonly stallTimeoutMs?: number | undefined;
  /** Attempts per part before the download fails (default 8). */
  readonly maxAttempts?: number | undefined;
  /** First backoff, doubled per failed attempt of a part, in milliseconds (default 250). */
  readonly backoffMs?: number | undefined;
  /** Largest backoff, in milliseconds (default 8000). */
  readonly maxBackoffMs?: number | undefined;
  /** A `Retry-After` longer than this fails the download instead of waiting, in milliseconds (default 300000). */
  readonly maxRetryAfterMs?: number | undefined;
}

/** The connections and memory that the downloads of one loader share. */
export interface Transfer {
  readonly policy: Required<{ [K in keyof DownloadPolicy]: NonNullable<DownloadPolicy[K]> }>;
  /**
   * How a request of a file is tried again, from {@link policy}: every transient failure (the hub busy or
   * unreachable, a body cut off or stalled), the hub's `Retry-After` honoured up to `maxRetryAfterMs`.
   */
  readonly retry: RetryPolicy;
  /** One unit per open connection. */
  readonly connections: Semaphore;
  /** One unit per byte held in part buffers. */
  readonly memory: Semaphore;
  /** Part buffers the checksum thread gave back, for the next parts. */
  readonly buffers: BufferPool;
}

/**
 * Part buffers to use again: memory that was written once already costs no page faults the next time (on loopback,
 * filling fresh buffers cost the server as much CPU as the checksum). Held only while some part of the transfer is:
 * an idle server keeps none.
 */
interface BufferPool {
  /** Buffers not in use, any size, oldest first. */
  readonly free: Buffer[];
  /** Parts that hold a buffer now. */
  held: number;
  /** Bytes the free buffers may hold at most (the memory budget): older ones are dropped beyond it. */
  readonly limit: number;
}

/** A buffer of `length` bytes: a free one of that size, else a new one. */
export function takeBuffer(pool: BufferPool, length: number): Buffer {
  pool.held += 1;
  const index = pool.free.findIndex((buffer) => buffer.length === length);
  if (index < 0) return Buffer.allocUnsafe(length);
  const [buffer] = pool.free.splice(index, 1);
  return buffer as Buffer;
}

/** Ends a part's hold of a buffer; `buffer`, when given, may be used again. The last hold drops every free buffer. */
export function giveBuffer(pool: BufferPool, buffer: Uint8Array | undefined): void {
  pool.held -= 1;
  if (pool.held === 0) {
    pool.free.length = 0;
    return;
  }
  if (buffer === undefined) return;
  pool.free.push(Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength));
  let bytes = pool.free.reduce((sum, free) => sum + free.length, 0);
  while (bytes > pool.limit) bytes -= (pool.free.shift() as Buffer).length;
}

/** Bytes of one part at most, and at least (for files larger than that). */
export const MAX_PART_BYTES = 8 * 1024 * 1024;
export const MIN_PART_BYTES = 1024 * 1024;

/** Creates the shared {@link Transfer} of a loader. */
export function createTransfer(options: DownloadPolicy = {}): Transfer {
  const connections = options.connections ?? DEFAULT_DOWNLOAD_CONNECTIONS;
  if (!(Number.isInteger(connections) && connections >= 1)) {
    throw new RangeError(`download connections must be a whole number >= 1, got ${String(connections)}`);
  }
  const budget = 2 * connections * MAX_PART_BYTES;
  const policy = {
    connections,
    stallTimeoutMs: options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
    maxAttempts: options.maxAttempts ?? 8,
    backoffMs: options.backoffMs ?? 250,
    maxBackoffMs: options.maxBackoffMs ?? 8000,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 300_000,
  };
  return {
    policy,
    retry: {
      attempts: policy.maxAttempts,
      backoff: { initialMs: policy.backoffMs, maxMs: policy.maxBackoffMs },
      maxWaitMs: policy.maxRetryAfterMs,
      isTransient: (error) => isTransient(error, ['busy', 'unreachable', 'cut']),
      retryAfterMs: retryAfterOf,
    },
    connections: createSemaphore(connections),
    // Two parts per connection: one arriving, one waiting for the parts before it to be written.
    memory: createSemaphore(budget),
    buffers: { free: [], held: 0, limit: budget },
  };
}
