// The reconnect policy, pure: which failures retry, and after how long.
import t from 'tap';
import { planRetry } from '../src/client/reconnect.js';
import { backoffDelay } from '../src/common/retry.js';

const backoff = { initialMs: 100, maxMs: 1000 };

t.test('retryable failures grow the streak and wait the doubling, capped delay', async (t) => {
  let streak = 0;
  const waits: (number | null)[] = [];
  for (let i = 0; i < 6; i++) {
    const plan = planRetry(streak, { kind: 'network', message: 'refused' }, backoff);
    streak = plan.streak;
    waits.push(plan.delayMs);
  }
  t.same(waits, [100, 200, 400, 800, 1000, 1000]);
  t.equal(streak, 6);
  t.equal(backoffDelay(1, backoff), 100);
});

t.test('failures a retry cannot cure wait for the user and leave the streak as it was', async (t) => {
  t.same(planRetry(2, { kind: 'http', status: 401, message: 'no key' }, backoff), { streak: 2, delayMs: null });
  t.same(planRetry(0, { kind: 'protocol', message: 'not a stream' }, backoff), { streak: 0, delayMs: null });
  t.same(planRetry(0, { kind: 'http', status: 503, message: 'busy' }, backoff), { streak: 1, delayMs: 100 });
  t.same(planRetry(0, { kind: 'ended-early', message: 'cut' }, backoff), { streak: 1, delayMs: 100 });
});
