// The one retry policy: which failures are tried again, after how long, and why the tries end.
import t from 'tap';
import { backoffDelay, decideRetry, type RetryPolicy } from '../src/common/retry.js';

interface Failure {
  readonly transient: boolean;
  readonly retryAfterMs?: number;
}

const policy: RetryPolicy<Failure> = {
  attempts: 4,
  backoff: { initialMs: 100, maxMs: 300 },
  maxWaitMs: 1000,
  isTransient: (failure) => failure.transient,
  retryAfterMs: (failure) => failure.retryAfterMs,
};

t.test('the backoff doubles from its first wait up to its cap', async (t) => {
  const backoff = { initialMs: 1000, maxMs: 15_000 };
  t.same(
    [0, 1, 2, 3, 4, 5, 6, 100].map((attempt) => backoffDelay(attempt, backoff)),
    [1000, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000],
  );
});

t.test('decisions, try by try', async (t) => {
  const busy: Failure = { transient: true };
  const cases: [string, Failure, number, ReturnType<typeof decideRetry>][] = [
    ['a permanent failure is never retried', { transient: false }, 1, { verdict: 'permanent' }],
    ['first retry: the first wait', busy, 1, { verdict: 'retry', delayMs: 100 }],
    ['second retry: doubled', busy, 2, { verdict: 'retry', delayMs: 200 }],
    ['third retry: capped', busy, 3, { verdict: 'retry', delayMs: 300 }],
    ['the last try ends them', busy, 4, { verdict: 'out-of-attempts', attempts: 4 }],
    [
      'a Retry-After replaces the backoff, above its cap too',
      { transient: true, retryAfterMs: 700 },
      1,
      { verdict: 'retry', delayMs: 700 },
    ],
    ['Retry-After 0 is no wait', { transient: true, retryAfterMs: 0 }, 2, { verdict: 'retry', delayMs: 0 }],
    [
      'a Retry-After longer than the policy waits ends them, whatever the tries left',
      { transient: true, retryAfterMs: 1001 },
      4,
      { verdict: 'wait-too-long', delayMs: 1001 },
    ],
  ];
  for (const [name, failure, attempt, want] of cases) t.same(decideRetry(policy, failure, attempt), want, name);
});

t.test('a policy without retryAfterMs does not honour one; without limits it never gives up', async (t) => {
  const endless: RetryPolicy<Failure> = {
    attempts: Infinity,
    backoff: { initialMs: 1000, maxMs: 15_000 },
    maxWaitMs: Infinity,
    isTransient: (failure) => failure.transient,
  };
  t.same(decideRetry(endless, { transient: true, retryAfterMs: 60_000 }, 1), { verdict: 'retry', delayMs: 1000 });
  t.same(decideRetry(endless, { transient: true }, 1000), { verdict: 'retry', delayMs: 15_000 });
});
