// The render loop with a hand-driven clock: first change at once, at most maxFps, last change never dropped.
import t from 'tap';
import { createRenderScheduler } from '../src/tui/render-scheduler.js';
import { createFakeClock } from './helpers/fake-clock.js';

t.test('first change drawn at once; a burst is coalesced into one trailing frame', async (t) => {
  const m = createFakeClock(1000);
  const drawn: number[] = [];
  let value = 0;
  const s = createRenderScheduler({ draw: () => drawn.push(value), clock: m, maxFps: 30 });
  value = 1;
  s.invalidate();
  t.same(drawn, [1], 'drawn synchronously');
  for (value = 2; value <= 50; value++) s.invalidate();
  value = 50;
  t.same(drawn, [1], 'nothing more within the interval');
  t.equal(m.pending(), 1, 'one pending frame');
  m.advance(34);
  t.same(drawn, [1, 50], 'the last state is drawn');
  m.advance(1000);
  t.same(drawn, [1, 50], 'nothing when nothing changed');
  t.equal(s.frames(), 2);
});

t.test('at most maxFps frames a second under a constant stream of changes', async (t) => {
  const m = createFakeClock(1000);
  let frames = 0;
  const s = createRenderScheduler({ draw: () => frames++, clock: m, maxFps: 30 });
  for (let i = 0; i < 5000; i++) {
    s.invalidate();
    m.advance(0.2);
  }
  m.advance(100);
  t.ok(frames <= 31 && frames >= 25, `${frames} frames in one second`);
});

t.test('flush draws a pending change now; dispose stops everything', async (t) => {
  const m = createFakeClock(1000);
  let frames = 0;
  const s = createRenderScheduler({ draw: () => frames++, clock: m });
  s.invalidate();
  s.invalidate();
  s.flush();
  t.equal(frames, 2);
  s.flush();
  t.equal(frames, 2, 'flush with nothing dirty draws nothing');
  s.invalidate();
  s.dispose();
  m.advance(1000);
  s.invalidate();
  t.equal(frames, 2);
  t.equal(m.pending(), 0);
});

t.test('a tick redraws with nothing changed (elapsed times move), until disposed', async (t) => {
  const m = createFakeClock(1000);
  let frames = 0;
  const s = createRenderScheduler({ draw: () => frames++, clock: m, tickMs: 500 });
  m.advance(499);
  t.equal(frames, 0, 'nothing before the first tick');
  m.advance(1);
  t.equal(frames, 1, 'the tick draws');
  m.advance(1000);
  t.equal(frames, 3, 'twice a second');
  s.dispose();
  m.advance(5000);
  t.equal(frames, 3);
  t.equal(m.pending(), 0, 'no timer left');
});

t.test(
  'urgent: a key press is drawn at the end of its turn, past the interval, the keys of one turn in one frame',
  async (t) => {
    const m = createFakeClock(1000);
    const drawn: number[] = [];
    let value = 0;
    const s = createRenderScheduler({ draw: () => drawn.push(value), clock: m, maxFps: 30 });
    value = 1;
    s.invalidate();
    t.same(drawn, [1], 'a stream frame');
    value = 2;
    s.invalidate();
    t.same(drawn, [1], 'the next stream change waits for the interval');
    value = 3;
    s.urgent();
    value = 4;
    s.urgent();
    t.same(drawn, [1], 'not within the key handler itself');
    m.advance(0);
    t.same(drawn, [1, 4], 'drawn once at the end of the turn, without waiting for the interval');
    m.advance(100);
    t.same(drawn, [1, 4], 'and the pending interval frame has nothing left to draw');
    s.urgent();
    s.dispose();
    m.advance(100);
    t.same(drawn, [1, 4], 'dispose cancels an urgent frame');
  },
);

t.test(
  'a stream change while a key is pending is drawn in the key frame, not in a frame of its own before it',
  async (t) => {
    const m = createFakeClock(1000);
    const drawn: number[] = [];
    let value = 0;
    const s = createRenderScheduler({ draw: () => drawn.push(value), clock: m, maxFps: 30 });
    value = 1;
    s.urgent();
    value = 2;
    s.invalidate();
    t.same(drawn, [], 'the interval had passed, yet nothing is drawn inside the key handler');
    m.advance(0);
    t.same(drawn, [2], 'one frame at the end of the turn, with both changes');
    m.advance(100);
    t.same(drawn, [2], 'and no second one');
  },
);

t.test('frames that cost more are spaced further apart, so that drawing keeps to its share of a core', async (t) => {
  /** Frames a second over the second second of a constant stream of changes, each frame costing `costMs`. */
  function rate(costMs: number, frameShare?: number): { fps: number; busy: number } {
    const m = createFakeClock(1000);
    const times: number[] = [];
    const s = createRenderScheduler({
      draw: () => {
        times.push(m.now());
        m.advance(costMs);
      },
      clock: m,
      // The fake clock stands for the CPU too: each frame's time on it is its cost.
      cpuMs: m.now,
      maxFps: 30,
      ...(frameShare !== undefined ? { frameShare } : {}),
    });
    for (let i = 0; i < 2000; i++) {
      s.invalidate();
      m.advance(1);
    }
    const late = times.filter((at) => at >= 2000);
    return { fps: late.length, busy: (late.length * costMs) / 1000 };
  }
  const cheap = rate(1);
  t.ok(cheap.fps >= 28 && cheap.fps <= 30, `a 1 ms frame keeps the rate: ${cheap.fps} frames a second`);
  const dear = rate(4);
  t.ok(dear.fps >= 19 && dear.fps <= 21, `a 4 ms frame at a twelfth of a core: ${dear.fps} frames a second`);
  t.ok(dear.busy <= 0.085, `drawing took ${dear.busy} of a second`);
  const dearer = rate(20);
  t.ok(dearer.fps >= 14 && dearer.fps <= 15, `a 20 ms frame is still drawn 15 times a second: ${dearer.fps}`);
  const half = rate(10, 0.5);
  t.ok(half.fps >= 28 && half.fps <= 30, `a share of a half leaves a 10 ms frame at the rate: ${half.fps}`);
});

t.test('a key is drawn at the end of its turn however much the frames cost', async (t) => {
  const m = createFakeClock(1000);
  const drawn: number[] = [];
  let value = 0;
  const s = createRenderScheduler({
    draw: () => {
      drawn.push(value);
      m.advance(20);
    },
    clock: m,
    cpuMs: m.now,
    maxFps: 30,
  });
  // Costly frames under a stream of changes: a twelfth of a core would space them 240 ms apart, the floor of 15 frames
  // a second 67 ms.
  for (let i = 0; i < 1000; i++) {
    value = i;
    s.invalidate();
    m.advance(1);
  }
  const before = drawn.length;
  value = -1;
  s.urgent();
  m.advance(0);
  t.equal(drawn.length, before + 1, 'the key frame');
  t.equal(drawn.at(-1), -1, 'with the key in it');
  value = -2;
  s.invalidate();
  // The next may come 67 ms after the key frame began.
  m.advance(40);
  t.equal(drawn.at(-1), -1, 'the stream change after it waits out the longer interval');
  m.advance(30);
  t.equal(drawn.at(-1), -2, 'and is then drawn');
});
