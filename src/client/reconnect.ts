/**
 * The reconnect policy, pure: which failures a later attempt can cure, and how long to wait before it (a capped
 * exponential backoff that grows with the failures since the session last reached a terminal event).
 */

import { isRetryable, type Failure } from './failures.js';

/** Reconnection delays: `initialMs`, doubling, never above `maxMs`. */
export interface BackoffOptions {
  /** First delay, in milliseconds. */
  readonly initialMs: number;
  /** Cap, in milliseconds. */
  readonly maxMs: number;
}

/** 1 s, 2 s, 4 s, … capped at 15 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 15_000 };

/** The delay before reconnection attempt `attempt` (1 for the first retry), in milliseconds. */
export function backoffDelay(attempt: number, backoff: BackoffOptions = DEFAULT_BACKOFF): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent);
}

/** What to do after a failure. */
export interface RetryPlan {
  /** Failures in the streak, this one included (unchanged when it is not retryable). */
  readonly streak: number;
  /** Milliseconds until the next attempt, or `null` to wait for the user. */
  readonly delayMs: number | null;
}

/** The plan after `failure`, `streak` failures having come before it since the last terminal event. */
export function planRetry(streak: number, failure: Failure, backoff: BackoffOptions = DEFAULT_BACKOFF): RetryPlan {
  if (!isRetryable(failure)) return { streak, delayMs: null };
  return { streak: streak + 1, delayMs: backoffDelay(streak + 1, backoff) };
}
