// A request's keep_alive (issue 24), as the resident table keeps it: the longest asked wins, a use that asks none
// adds the server's idle timeout, 0 unloads once the request is done, a negative one never; pinned never expires;
// and the table says whether the idle timeout or a keep-alive set the unload.
import t from 'tap';
import { parseKeepAlive } from '../src/protocol/keep-alive.js';
import type { LoadedModel } from '../src/server/loader-types.js';
import { createResidentTable } from '../src/server/resident-table.js';
import { createFakeClock } from './helpers/fake-clock.js';

const KEY = 'a/x@main';
const model: LoadedModel = {
  ref: { id: 'a/x', revision: 'main', key: KEY },
  generate: () => Promise.reject(new Error('not used')),
  dispose: async () => undefined,
};

function setup(idleTimeoutMs: number, pinned: string[] = []) {
  const clock = createFakeClock(1_000_000);
  const idle: string[] = [];
  const table = createResidentTable({
    idleTimeoutMs,
    clock,
    onIdle: (key, reason) => {
      idle.push(`${key} ${reason}`);
      table.remove(key);
    },
    pinned: new Set(pinned),
  });
  table.add(model);
  return { clock, idle, table };
}

t.test('keep_alive values: seconds, durations, 0, negative; the bad ones named', async (t) => {
  const cases: [unknown, number | undefined][] = [
    [undefined, undefined],
    [null, undefined],
    [1, 1000],
    [0, 0],
    [0.5, 500],
    [-1, Infinity],
    ['30', 30_000],
    ['-1', Infinity],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['-5m', Infinity],
    [' 2m ', 120_000],
  ];
  for (const [value, ms] of cases) t.same(parseKeepAlive(value), { ok: true, ms }, JSON.stringify(value) ?? 'absent');
  for (const value of ['', '10 minutes', '5d', 'm', true, {}, [1], Number.NaN, Infinity, '1h-30m']) {
    const parsed = parseKeepAlive(value);
    t.equal(parsed.ok, false, `${JSON.stringify(value)} refused`);
    if (!parsed.ok) t.match(parsed.problem, /^"keep_alive" must be seconds/);
  }
});

t.test('a keep-alive counts from the end of its request, replacing the idle timeout', async (t) => {
  const { clock, idle, table } = setup(300_000);
  const release = table.hold(KEY, 1000);
  clock.advance(5000);
  t.same(idle, [], 'not while it works');
  release();
  t.same(
    table.info(KEY)?.expiry,
    { kind: 'at', at: clock.now() + 1000, monotonicAt: clock.now() + 1000 },
    'a second from its end',
  );
  clock.advance(999);
  t.same(idle, [], 'not before its second');
  clock.advance(1);
  t.same(idle, [`${KEY} keep_alive`], 'a second after, by its keep-alive');
});

t.test('the longest asked wins; a later use without one adds the idle timeout', async (t) => {
  const { clock, idle, table } = setup(10_000);
  table.touch(KEY, 60_000);
  clock.advance(1000);
  table.touch(KEY, 0);
  clock.advance(30_000);
  t.same(idle, [], 'the shorter ask does not cut the longer');
  table.touch(KEY);
  clock.advance(28_999);
  t.same(idle, [], 'the idle timeout does not cut it either');
  clock.advance(1);
  t.same(idle, [`${KEY} keep_alive`], 'the minute asked first ends it');
});

t.test('an idle timeout longer than the asks governs, and is the reason', async (t) => {
  const { clock, idle, table } = setup(10_000);
  table.touch(KEY, 1000);
  table.touch(KEY);
  clock.advance(9999);
  t.same(idle, []);
  clock.advance(1);
  t.same(idle, [`${KEY} idle`]);
});

t.test('0 unloads once done; -1 never; a pin never', async (t) => {
  const zero = setup(300_000);
  zero.table.hold(KEY, 0)();
  zero.clock.advance(0);
  t.same(zero.idle, [`${KEY} keep_alive`], '0: at once after the request');

  const never = setup(1000);
  never.table.touch(KEY, Infinity);
  t.same(never.table.info(KEY)?.expiry, { kind: 'never' }, '-1: no expiry');
  never.clock.advance(10_000_000);
  t.same(never.idle, [], 'and none comes');

  const pinned = setup(1000, [KEY]);
  pinned.table.touch(KEY, 1);
  t.same(pinned.table.info(KEY)?.expiry, { kind: 'never' }, 'pinned: no expiry');
  t.equal(pinned.table.info(KEY)?.pinned, true);
  pinned.clock.advance(10_000_000);
  t.same(pinned.idle, [], 'and none comes');
});
