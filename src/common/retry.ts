/**
 * The one retry policy of modeldeck, pure: how many tries, how long to wait between them (a capped exponential
 * backoff, or what the failure itself asked for, such as a `Retry-After`), and which failures another try may cure.
 * The hub's API requests, the downloader's parts and the client's reconnects each hold a {@link RetryPolicy} and ask
 * {@link decideRetry} after every failure; the waiting itself is theirs (a sleep, a Clock timer). A failure the
 * policy does not call transient is never retried.
 */

/** Waits between tries: `initialMs`, doubled after each failed try, never above `maxMs`. */
export interface BackoffOptions {
  /** First wait, in milliseconds. */
  readonly initialMs: number;
  /** Cap, in milliseconds. */
  readonly maxMs: number;
}

/** How a task is tried again after a failure of type `F`. */
export interface RetryPolicy<F = unknown> {
  /** Tries in all, the first included; `Infinity` for as long as the failures are transient. */
  readonly attempts: number;
  readonly backoff: BackoffOptions;
  /**
   * The longest wait, in milliseconds: a failure that asks for more (or a backoff that reaches more) ends the tries
   * instead. `Infinity` for no limit.
   */
  readonly maxWaitMs: number;
  /** Whether another try may not meet `failure`: the network's or the other side's overload, never a refusal. */
  isTransient(failure: F): boolean;
  /**
   * How long `failure` asked to wait before the next try, in milliseconds (a `Retry-After`), when it said: honoured in
   * place of the backoff. A policy without it never honours one.
   */
  retryAfterMs?(failure: F): number | undefined;
}

/** What to do after a failed try. */
export type RetryDecision =
  /** Try again after `delayMs` milliseconds. */
  | { readonly verdict: 'retry'; readonly delayMs: number }
  /** Not transient: no try will cure it. */
  | { readonly verdict: 'permanent' }
  /** Transient, but this was the last of the policy's `attempts`. */
  | { readonly verdict: 'out-of-attempts'; readonly attempts: number }
  /** Transient, but the wait it needs (`delayMs`) is longer than the policy's `maxWaitMs`. */
  | { readonly verdict: 'wait-too-long'; readonly delayMs: number };

/** The backoff before try `attempt + 1`, after `attempt` failed tries (1 for the first retry), in milliseconds. */
export function backoffDelay(attempt: number, backoff: BackoffOptions): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent);
}

/** The decision after try number `attempt` (1 for the first) failed with `failure`. */
export function decideRetry<F>(policy: RetryPolicy<F>, failure: F, attempt: number): RetryDecision {
  if (!policy.isTransient(failure)) return { verdict: 'permanent' };
  const delayMs = policy.retryAfterMs?.(failure) ?? backoffDelay(attempt, policy.backoff);
  if (delayMs > policy.maxWaitMs) return { verdict: 'wait-too-long', delayMs };
  if (attempt >= policy.attempts) return { verdict: 'out-of-attempts', attempts: attempt };
  return { verdict: 'retry', delayMs };
}
