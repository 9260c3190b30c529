/**
 * What the downloads of one loader share: the connections open at once (shared fairly between loads and files,
 * `fair-share.ts`), the disk space their loads have claimed, and how they behave ({@link DownloadPolicy}: every
 * knob a benchmark or a test turns, with its default).
 */

import type { RetryPolicy } from '../../common/retry.js';
import { createFairShare, type FairShare } from './fair-share.js';
import { isTransient, retryAfterOf } from './transient-error.js';

/** Default for {@link DownloadPolicy.connections}: what hf_transfer-like tools use against a CDN. */
export const DEFAULT_DOWNLOAD_CONNECTIONS = 8;

/** How downloads behave; every field has a default. */
export interface DownloadPolicy {
  /** Connections open at once, over all files and loads of the transfer (default {@link DEFAULT_DOWNLOAD_CONNECTIONS}). */
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
  /**
   * The largest part a file is fetched in, in bytes (default 8 MiB). A file is cut into about two parts per
   * connection, each between 1 MiB (or this, if smaller) and this.
   */
  readonly maxPartBytes?: number | undefined;
  /** The journal of a partial file is rewritten at most this often while bytes arrive, in milliseconds (default 100). */
  readonly journalMs?: number | undefined;
  /** A partial file is synced to the disk (`fdatasync`) after this many bytes written since the last sync (default 32 MiB). */
  readonly syncBytes?: number | undefined;
  /**
   * A part whose rate stays below its file's other parts' median divided by this (a capped CDN edge) is asked again on
   * a new connection, keeping what it wrote (default 4; 0 never).
   */
  readonly slowFactor?: number | undefined;
  /** How long a part must stay that slow before it is asked again, in milliseconds (default 1000). */
  readonly slowAfterMs?: number | undefined;
  /** Times one part is asked again for being slow, at most (default 3). */
  readonly maxRedials?: number | undefined;
}

/** {@link DownloadPolicy} with every default filled in. */
export type FullDownloadPolicy = Required<{ [K in keyof DownloadPolicy]: NonNullable<DownloadPolicy[K]> }>;

/** A load's claim on the disk: the bytes it still has to write (`disk-space.ts`). */
export interface DiskClaim {
  /** Bytes still to be written, now. */
  remaining(): number;
}

/** The connections and disk claims that the downloads of one loader share. */
export interface Transfer {
  readonly policy: FullDownloadPolicy;
  /**
   * How a request of a file is tried again, from {@link policy}: every transient failure (the hub busy or
   * unreachable, a body cut off or stalled), the hub's `Retry-After` honoured up to `maxRetryAfterMs`.
   */
  readonly retry: RetryPolicy;
  /** The connections, shared fairly by flow (a load, then a file). */
  readonly connections: FairShare;
  /** The claims of the loads downloading now, so that two loads do not both count on the same free space. */
  readonly claims: Set<DiskClaim>;
  /** Called each time a request is tried again after a transient failure (the server's metrics count them). */
  readonly onRetry: () => void;
}

/** Bytes of one part at most (the default), and at least (for files larger than that). */
const MAX_PART_BYTES = 8 * 1024 * 1024;
const MIN_PART_BYTES = 1024 * 1024;

/** Creates the shared {@link Transfer} of a loader; `onRetry` is told of every retry. */
export function createTransfer(options: DownloadPolicy = {}, onRetry: () => void = () => undefined): Transfer {
  const connections = options.connections ?? DEFAULT_DOWNLOAD_CONNECTIONS;
  if (!(Number.isInteger(connections) && connections >= 1)) {
    throw new RangeError(`download connections must be a whole number >= 1, got ${String(connections)}`);
  }
  const policy: FullDownloadPolicy = {
    connections,
    stallTimeoutMs: options.stallTimeoutMs ?? 30_000,
    maxAttempts: options.maxAttempts ?? 8,
    backoffMs: options.backoffMs ?? 250,
    maxBackoffMs: options.maxBackoffMs ?? 8000,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 300_000,
    maxPartBytes: options.maxPartBytes ?? MAX_PART_BYTES,
    journalMs: options.journalMs ?? 100,
    syncBytes: options.syncBytes ?? 32 * 1024 * 1024,
    slowFactor: options.slowFactor ?? 4,
    slowAfterMs: options.slowAfterMs ?? 1000,
    maxRedials: options.maxRedials ?? 3,
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
    connections: createFairShare(connections),
    claims: new Set(),
    onRetry,
  };
}

/**
 * The part size of a file of `size` bytes: about two parts per connection (the tail of a file then keeps every
 * connection busy), between 1 MiB (or the policy's largest, if smaller) and the policy's largest.
 */
export function partBytes(size: number, policy: FullDownloadPolicy): number {
  const even = Math.ceil(size / (policy.connections * 2));
  const rounded = Math.ceil(even / 65536) * 65536;
  return Math.min(policy.maxPartBytes, Math.max(Math.min(MIN_PART_BYTES, policy.maxPartBytes), rounded));
}
