import t from 'tap';
import type { LoadedModel } from '../src/server/loader-types.js';
import { createResidentTable } from '../src/server/resident-table.js';
import { createFakeClock } from './helpers/fake-clock.js';

function model(key: string): LoadedModel {
  const [id = key, revision = 'main'] = key.split('@');
  return {
    ref: { id, revision, key },
    generate: () => Promise.reject(new Error('not used')),
    dispose: async () => undefined,
  };
}

function setup(idleTimeoutMs: number) {
  const clock = createFakeClock();
  const idle: string[] = [];
  const moved: string[] = [];
  const table = createResidentTable({
    idleTimeoutMs,
    clock,
    onIdle: (key) => idle.push(key),
    onExpiry: (key) => moved.push(key),
  });
  return { clock, idle, moved, table };
}

t.test('add, get, refs, remove', async (t) => {
  const { table } = setup(0);
  table.add(model('a/x@main'));
  table.add(model('b/y@main'));
  t.equal(table.size, 2);
  t.equal(table.get('a/x@main')?.ref.key, 'a/x@main');
  t.strictSame(
    table.refs().map((r) => r.key),
    ['a/x@main', 'b/y@main'],
  );
  t.equal(table.remove('a/x@main')?.ref.key, 'a/x@main');
  t.equal(table.remove('a/x@main'), undefined, 'removing twice');
  t.equal(table.get('a/x@main'), undefined);
  t.equal(table.touch('a/x@main'), false, 'touching a model that is not there');
});

t.test('a model unused for the idle timeout is reported once; use restarts the timer', async (t) => {
  const { clock, idle, table } = setup(1000);
  table.add(model('a/x@main'));
  clock.advance(900);
  t.ok(table.touch('a/x@main'));
  clock.advance(900);
  t.strictSame(idle, [], 'touched 900 ms ago');
  clock.advance(100);
  t.strictSame(idle, ['a/x@main']);
  t.equal(table.info('a/x@main')?.lastUsedAt, 900, 'last used when touched');
});

t.test('a held model never goes idle; release starts its timer again', async (t) => {
  const { clock, idle, table } = setup(1000);
  table.add(model('a/x@main'));
  const release = table.hold('a/x@main');
  t.equal(table.info('a/x@main')?.holds, 1);
  clock.advance(5000);
  t.strictSame(idle, []);
  release();
  release();
  t.equal(table.info('a/x@main')?.holds, 0, 'release is idempotent');
  clock.advance(999);
  t.strictSame(idle, []);
  clock.advance(1);
  t.strictSame(idle, ['a/x@main']);
});

t.test('a removed model has no timer left, and its late release does nothing', async (t) => {
  const { clock, idle, table } = setup(1000);
  table.add(model('a/x@main'));
  const release = table.hold('a/x@main');
  table.remove('a/x@main');
  release();
  t.equal(clock.pending(), 0);
  clock.advance(5000);
  t.strictSame(idle, []);
  t.equal(table.hold('nope@main')(), undefined, 'holding a model that is not there');
});

t.test('idle timeout 0 arms no timer', async (t) => {
  const { clock, table } = setup(0);
  table.add(model('a/x@main'));
  table.touch('a/x@main');
  t.equal(clock.pending(), 0);
});

t.test('expiry: one value per model, which the timer keeps; every move is reported, none twice', async (t) => {
  const { clock, idle, moved, table } = setup(1000);
  table.add(model('a/x@main'));
  t.strictSame(table.info('a/x@main')?.expiry, { kind: 'at', at: 1000, monotonicAt: 1000 });
  t.strictSame(moved, [], 'adding is not a move (the owner announces a new model)');
  clock.advance(300);
  table.touch('a/x@main');
  t.strictSame(table.info('a/x@main')?.expiry, { kind: 'at', at: 1300, monotonicAt: 1300 });
  const release = table.hold('a/x@main');
  const second = table.hold('a/x@main');
  table.touch('a/x@main');
  t.strictSame(table.info('a/x@main')?.expiry, { kind: 'paused' });
  t.strictSame(
    moved,
    ['a/x@main', 'a/x@main'],
    'touched, then paused; a second hold and a touch while paused are not moves',
  );
  clock.advance(5000);
  release();
  t.strictSame(moved.length, 2, 'one reply still under way');
  second();
  t.strictSame(table.info('a/x@main')?.expiry, { kind: 'at', at: 6300, monotonicAt: 6300 });
  t.equal(moved.length, 3, 'the last reply ended');
  clock.advance(999);
  t.strictSame(idle, []);
  clock.advance(1);
  t.strictSame(idle, ['a/x@main'], 'unloaded exactly when its expiry said');
});

t.test('expiry with no idle timeout: never, and never a move but to and from paused', async (t) => {
  const { moved, table } = setup(0);
  table.add(model('a/x@main'));
  t.strictSame(table.info('a/x@main')?.expiry, { kind: 'never' });
  table.touch('a/x@main');
  t.strictSame(moved, []);
  table.hold('a/x@main')();
  t.strictSame(moved, ['a/x@main', 'a/x@main']);
});
