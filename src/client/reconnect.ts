/**
 * The reconnect policy, pure: which failures a later attempt can cure ({@link isRetryable}), and how long to wait
 * before it (a capped exponential backoff that grows with the failures since the session last reached a terminal
 * event). A {@link RetryPolicy} of `common/retry.ts` that never gives up on a transient failure.
 */

import { decideRetry, type BackoffOptions, type RetryPolicy } from '../common/retry.js';
import { isRetryable, type Failure } from './failures.js';

export type { BackoffOptions };

/** 1 s, 2 s, 4 s, … capped at 15 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 15_000 };

/** What to do after a failure. */
export interface RetryPlan {
  /** Failures in the streak, this one included (unchanged when it is not retryable). */
  readonly streak: number;
  /** Milliseconds until the next attempt, or `null` to wait for the user. */
  readonly delayMs: number | null;
}

/** Reconnects: for as long as the failures are retryable, the server's `Retry-After` not honoured. */
function reconnectPolicy(backoff: BackoffOptions): RetryPolicy<Failure> {
  return { attempts: Infinity, backoff, maxWaitMs: Infinity, isTransient: isRetryable };
}

/** The plan after `failure`, `streak` failures having come before it since the last terminal event. */
export function planRetry(streak: number, failure: Failure, backoff: BackoffOptions = DEFAULT_BACKOFF): RetryPlan {
  const decision = decideRetry(reconnectPolicy(backoff), failure, streak + 1);
  switch (decision.verdict) {
    case 'retry':
      return { streak: streak + 1, delayMs: decision.delayMs };
    // A policy without limits never runs out; were it given one, the user would decide then too.
    case 'permanent':
    case 'out-of-attempts':
    case 'wait-too-long':
      return { streak, delayMs: null };
    default:
      return unreachable(decision);
  }
}

function unreachable(value: never): never {
  throw new TypeError(`unknown retry verdict ${JSON.stringify((value as { verdict?: unknown }).verdict)}`);
}
