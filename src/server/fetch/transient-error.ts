/**
 * The fetch wing's one notion of "transient": a {@link LoadError} that another try may not meet is a
 * {@link TransientError}, made where the failure is seen, with the kind of trouble it is. Each retry policy then
 * names the kinds it retries (`hub-request.ts`: the hub's API requests; `download-retry.ts`: file downloads).
 * Every other failure (a refusal, a disk error, a size or checksum the hub got wrong) is permanent.
 */

import { LoadError, type LoadErrorCode } from '../loader-types.js';

/**
 * - `busy`: the hub (or the host it redirected to) answered 5xx, 408 or 429.
 * - `unreachable`: no answer at all (refused, reset, timed out, a certificate not accepted): `HUB_UNREACHABLE`.
 * - `cut`: a file's body was cut off, stalled, or shorter than asked.
 */
export type TransientKind = 'busy' | 'unreachable' | 'cut';

/** A failure that a later try may not meet. */
export class TransientError extends LoadError {
  constructor(
    code: LoadErrorCode,
    message: string,
    readonly kind: TransientKind,
    /** What the other side asked to wait before the next try (`Retry-After`), in milliseconds, when it said. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** Whether `error` is a {@link TransientError} of one of `kinds`. */
export function isTransient(error: unknown, kinds: readonly TransientKind[]): error is TransientError {
  return error instanceof TransientError && kinds.includes(error.kind);
}

/** The wait `error` asked for, when it is a {@link TransientError} that said. */
export function retryAfterOf(error: unknown): number | undefined {
  return error instanceof TransientError ? error.retryAfterMs : undefined;
}
