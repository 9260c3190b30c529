import t from 'tap';
import type { LoadingEvent } from '../src/protocol/events.js';
import { createProgressCoalescer } from '../src/server/progress-coalescer.js';
import { createFakeClock } from './helpers/fake-clock.js';

function setup(intervalMs = 100) {
  const clock = createFakeClock();
  const sent: LoadingEvent[] = [];
  const coalescer = createProgressCoalescer({ model: 'o/m@main', intervalMs, clock, emit: (e) => sent.push(e) });
  return { clock, sent, coalescer };
}

const progress = (stage: 'download' | 'weights', current: number, total: number) =>
  ({ type: 'progress', stage, current, total }) as const;

t.test('stage events without progress go out at once; progress stages wait for their first figure', async (t) => {
  const { sent, coalescer } = setup();
  coalescer.push({ type: 'stage', stage: 'processor' });
  coalescer.push({ type: 'stage', stage: 'config' });
  coalescer.push({ type: 'stage', stage: 'download' });
  t.strictSame(
    sent.map((e) => e.stage),
    ['processor', 'config'],
    'download is held until it has a total',
  );
  coalescer.push(progress('download', 0, 10));
  t.strictSame(sent.at(-1), {
    status: 'loading',
    model: 'o/m@main',
    stage: 'download',
    progress: { current: 0, total: 10 },
  });
  t.equal(coalescer.last, sent.at(-1), 'last is the latest event sent');
});

t.test('progress within the interval is coalesced into its latest value; completion is never delayed', async (t) => {
  const { clock, sent, coalescer } = setup(100);
  coalescer.push({ type: 'stage', stage: 'download' });
  coalescer.push(progress('download', 0, 100));
  coalescer.push(progress('download', 10, 100));
  coalescer.push(progress('download', 20, 100));
  t.equal(sent.length, 1, 'the first figure only');
  clock.advance(100);
  t.strictSame(
    sent.map((e) => e.progress?.current),
    [0, 20],
    'the latest figure after the interval',
  );
  coalescer.push(progress('download', 30, 100));
  coalescer.push(progress('download', 100, 100));
  t.strictSame(
    sent.map((e) => e.progress?.current),
    [0, 20, 100],
    'completion at once, replacing what was held',
  );
  t.equal(clock.pending(), 0, 'no timer left');
});

t.test('a stage change flushes held progress first', async (t) => {
  const { sent, coalescer } = setup(100);
  coalescer.push({ type: 'stage', stage: 'weights' });
  coalescer.push(progress('weights', 0, 5));
  coalescer.push(progress('weights', 3, 5));
  coalescer.push({ type: 'stage', stage: 'config' });
  t.strictSame(
    sent.map((e) => [e.stage, e.progress?.current]),
    [
      ['weights', 0],
      ['weights', 3],
      ['config', undefined],
    ],
  );
});

t.test('flush sends held progress; stop drops it and ignores what follows', async (t) => {
  const a = setup(100);
  a.coalescer.push({ type: 'stage', stage: 'weights' });
  a.coalescer.push(progress('weights', 0, 5));
  a.coalescer.push(progress('weights', 2, 5));
  a.coalescer.flush();
  t.equal(a.sent.at(-1)?.progress?.current, 2);
  t.equal(a.clock.pending(), 0);

  const b = setup(100);
  b.coalescer.push({ type: 'stage', stage: 'weights' });
  b.coalescer.push(progress('weights', 0, 5));
  b.coalescer.push(progress('weights', 2, 5));
  b.coalescer.stop();
  b.clock.advance(1000);
  b.coalescer.push({ type: 'stage', stage: 'config' });
  t.equal(b.sent.length, 1, 'nothing after stop');
  t.equal(b.clock.pending(), 0);
});
