// The life of one load alone (load-life.ts), with the listener set its subscribers live in and the table of loads
// under way: a loader the test drives by hand, a fake clock, and the events the life tells its owner.
import t from 'tap';
import type { LoadEvent } from '../src/protocol/events.js';
import { createListenerSet } from '../src/server/listener-set.js';
import { createLoadLife, type LoadLifeEvent } from '../src/server/load-life.js';
import { createLoadTable } from '../src/server/load-table.js';
import { LoadError, type LoadedModel, type LoaderEvent, type ModelRef } from '../src/server/loader-types.js';
import { createFakeClock } from './helpers/fake-clock.js';

const ref: ModelRef = { id: 'o/m', revision: 'main', key: 'o/m@main' };
const tick = () => new Promise((r) => setImmediate(r));

function scripted() {
  const disposed: string[] = [];
  let report!: (event: LoaderEvent) => void;
  let signal!: AbortSignal;
  let succeed!: () => void;
  let fail!: (error: unknown) => void;
  const model: LoadedModel = {
    ref,
    generate: () => Promise.reject(new Error('not used')),
    dispose: async () => void disposed.push(ref.key),
  };
  const load = (onEvent: (event: LoaderEvent) => void, s: AbortSignal) =>
    new Promise<LoadedModel>((resolve, reject) => {
      report = onEvent;
      signal = s;
      succeed = () => resolve(model);
      fail = reject;
    });
  const told: LoadLifeEvent[] = [];
  const clock = createFakeClock();
  const life = createLoadLife({ ref, dtype: ['q4'], intervalMs: 100, clock, load, on: (e) => told.push(e) });
  return {
    life,
    model,
    told,
    disposed,
    clock,
    report: (e: LoaderEvent) => report(e),
    signal: () => signal,
    succeed: () => succeed(),
    fail: (e: unknown) => fail(e),
  };
}

const kinds = (told: LoadLifeEvent[]) =>
  told.map((e) =>
    e.type === 'sent' ? `sent ${e.event.status}` : e.type === 'settled' ? `settled ${e.phase}` : e.type,
  );

t.test('a load that succeeds: progress, returned with the model to keep, ready, settled', async (t) => {
  const s = scripted();
  const seen: LoadEvent[] = [];
  s.life.join((e) => seen.push(e));
  s.life.start();
  t.equal(s.life.phase, 'loading');
  s.report({ type: 'stage', stage: 'processor' });
  s.report({ type: 'stage', stage: 'download' });
  s.report({ type: 'progress', stage: 'download', current: 1, total: 10 });
  s.report({ type: 'progress', stage: 'download', current: 5, total: 10 });
  t.equal(seen.length, 2, 'the second progress is held by the coalescer');
  s.succeed();
  const model = await s.life.model;
  t.equal(model, s.model, 'the promise gives the model');
  t.same(
    seen.map((e) => (e.status === 'loading' ? (e.progress?.current ?? e.stage) : e.status)),
    ['processor', 1, 5, 'ready'],
    'the held progress is flushed before ready',
  );
  t.same(kinds(s.told), ['sent loading', 'sent loading', 'sent loading', 'returned', 'sent ready', 'settled ready']);
  const returned = s.told.find((e) => e.type === 'returned');
  t.equal(returned?.type === 'returned' && returned.resident, s.model, 'the owner is handed the model before ready');
  t.equal(s.life.phase, 'ready');
  t.equal(s.life.subscribers, 0, 'no subscriber is kept after the end');
  t.same(s.disposed, []);
  const late: LoadEvent[] = [];
  s.life.join((e) => late.push(e)).unsubscribe();
  t.same(late, [], 'an ended load takes no more subscribers');
});

t.test('a late joiner gets the latest event first; unsubscribing stops delivery only', async (t) => {
  const s = scripted();
  const first: LoadEvent[] = [];
  const sub = s.life.join((e) => first.push(e));
  s.life.start();
  s.report({ type: 'stage', stage: 'processor' });
  const late: LoadEvent[] = [];
  s.life.join((e) => late.push(e));
  t.same(late, [{ status: 'loading', model: 'o/m@main', stage: 'processor' }]);
  t.equal(s.life.subscribers, 2);
  sub.unsubscribe();
  sub.unsubscribe();
  t.equal(s.life.subscribers, 1, 'unsubscribe is idempotent');
  s.report({ type: 'stage', stage: 'config' });
  t.equal(first.length, 1, 'the one who left hears nothing more');
  t.equal(late.length, 2);
  t.equal(s.signal().aborted, false, 'the load goes on');
});

t.test('a failure: returned with nothing to keep, one error event, settled failed', async (t) => {
  const s = scripted();
  const seen: LoadEvent[] = [];
  s.life.join((e) => seen.push(e));
  s.life.start();
  s.report({ type: 'stage', stage: 'download' });
  s.report({ type: 'progress', stage: 'download', current: 1, total: 10 });
  s.report({ type: 'progress', stage: 'download', current: 2, total: 10 });
  s.fail(new LoadError('MODEL_NOT_FOUND', 'model o/m was not found'));
  await t.rejects(s.life.model, { code: 'MODEL_NOT_FOUND' });
  t.same(seen, [
    { status: 'loading', model: 'o/m@main', stage: 'download', progress: { current: 1, total: 10 } },
    { status: 'error', model: 'o/m@main', message: 'model o/m was not found', code: 'MODEL_NOT_FOUND' },
  ]);
  t.same(kinds(s.told), ['sent loading', 'returned', 'sent error', 'settled failed']);
  s.clock.advance(1000);
  t.equal(seen.length, 2, 'held progress of a failed load is dropped, never sent after its end');
});

t.test('a failure that is a bug is reported as internal and sent as LOAD_FAILED', async (t) => {
  const s = scripted();
  const seen: LoadEvent[] = [];
  s.life.join((e) => seen.push(e));
  s.life.start();
  const bug = new TypeError('boom');
  s.fail(bug);
  await t.rejects(s.life.model, bug);
  t.same(seen, [{ status: 'error', model: 'o/m@main', message: 'loading o/m@main failed: boom', code: 'LOAD_FAILED' }]);
  t.same(
    s.told.filter((e) => e.type === 'internal-error'),
    [{ type: 'internal-error', error: bug }],
  );
});

t.test('cancel: the loader is aborted and the load ends cancelled, whatever the loader does', async (t) => {
  for (const loaderEnds of ['fails', 'succeeds'] as const) {
    const s = scripted();
    const seen: LoadEvent[] = [];
    s.life.join((e) => seen.push(e));
    s.life.start();
    t.equal(s.life.cancel(), true);
    t.equal(s.life.cancel(), false, 'cancelling twice');
    t.equal(s.life.phase, 'cancelling');
    t.equal(s.signal().aborted, true, `${loaderEnds}: the loader's signal fires`);
    t.match(s.signal().reason, { code: 'CANCELLED' });
    s.life.abort();
    t.equal(s.life.phase, 'cancelling', 'a cancelled load stays cancelled when the server closes');
    if (loaderEnds === 'fails') s.fail(new LoadError('ABORTED', 'aborted'));
    else s.succeed();
    await t.rejects(s.life.model, { code: 'CANCELLED' });
    t.match(seen, [{ status: 'error', code: 'CANCELLED', message: /cancelled \(POST \/unload_model\)/ }]);
    t.same(kinds(s.told), ['returned', 'sent error', 'settled cancelled']);
    t.same(s.disposed, loaderEnds === 'succeeds' ? ['o/m@main'] : [], 'a model that arrives anyway is disposed');
    t.equal(s.life.cancel(), false, 'an ended load cannot be cancelled');
  }
});

t.test(
  'abort (the server closes): a loader that fails sends its error; one that succeeds anyway is abandoned',
  async (t) => {
    const failing = scripted();
    const seen: LoadEvent[] = [];
    failing.life.join((e) => seen.push(e));
    failing.life.start();
    failing.life.abort();
    t.equal(failing.life.phase, 'aborting');
    t.equal(failing.signal().aborted, true);
    failing.fail(new LoadError('ABORTED', 'loading o/m@main was aborted'));
    await t.rejects(failing.life.model, { code: 'ABORTED' });
    t.match(seen, [{ status: 'error', code: 'ABORTED' }]);
    t.equal(failing.life.phase, 'failed');

    const late = scripted();
    const heard: LoadEvent[] = [];
    late.life.join((e) => heard.push(e));
    late.life.start();
    late.life.abort();
    late.succeed();
    await t.rejects(late.life.model, { code: 'ABORTED', message: 'the server is shutting down' });
    t.same(heard, [], 'its subscribers are told nothing more (the server closes their streams)');
    t.same(kinds(late.told), ['returned', 'settled abandoned']);
    t.same(late.disposed, ['o/m@main']);
    t.equal(late.life.cancel(), false, 'an abandoned load cannot be cancelled');
  },
);

t.test(
  'a loader that throws synchronously fails the load; events reported synchronously reach the first subscriber',
  async (t) => {
    const told: LoadLifeEvent[] = [];
    const throwing = createLoadLife({
      ref,
      dtype: undefined,
      intervalMs: 100,
      clock: createFakeClock(),
      load: (onEvent) => {
        onEvent({ type: 'stage', stage: 'processor' });
        throw new LoadError('NO_ONNX_WEIGHTS', 'no weights');
      },
      on: (e) => told.push(e),
    });
    const seen: LoadEvent[] = [];
    throwing.join((e) => seen.push(e));
    throwing.start();
    await t.rejects(throwing.model, { code: 'NO_ONNX_WEIGHTS' });
    t.same(
      seen.map((e) => e.status),
      ['loading', 'error'],
    );
    t.same(kinds(told), ['sent loading', 'returned', 'sent error', 'settled failed']);
  },
);

t.test('a subscriber that throws is dropped and reported; the others still get every event', async (t) => {
  const s = scripted();
  const kept: LoadEvent[] = [];
  const broken = new Error('socket gone');
  s.life.join(() => {
    throw broken;
  });
  s.life.join((e) => kept.push(e));
  s.life.start();
  s.report({ type: 'stage', stage: 'processor' });
  t.equal(s.life.subscribers, 1);
  s.succeed();
  await s.life.model;
  t.same(
    kept.map((e) => e.status),
    ['loading', 'ready'],
  );
  t.same(
    s.told.filter((e) => e.type === 'internal-error'),
    [{ type: 'internal-error', error: broken }],
  );
});

t.test('listener set: add once, remove idempotently, a thrower dropped, emit over the set as it was', async (t) => {
  const errors: [unknown, number][] = [];
  const set = createListenerSet<number>((error, value) => errors.push([error, value]));
  const got: string[] = [];
  const a = (n: number) => got.push(`a${n}`);
  let removeB: () => void = () => undefined;
  const b = (n: number) => got.push(`b${n}`);
  const removeA = set.add(a);
  set.add(a);
  set.add(() => {
    removeB();
    throw new Error('x');
  });
  removeB = set.add(b);
  t.equal(set.size, 3, 'a listener added twice is there once');
  set.emit(1);
  t.same(got, ['a1', 'b1'], 'one removed during an emit still gets that value');
  t.match(errors, [[{ message: 'x' }, 1]]);
  t.equal(set.size, 1, 'the thrower and the removed one are gone');
  removeA();
  removeA();
  t.equal(set.size, 0);
  set.add(b);
  set.clear();
  set.emit(2);
  t.same(got, ['a1', 'b1']);
});

t.test('the table of loads: a load is under way from open until its loader returns', async (t) => {
  const gates = new Map<string, () => void>();
  const told: string[] = [];
  const table = createLoadTable({
    intervalMs: 100,
    clock: createFakeClock(),
    load: (r) =>
      new Promise<LoadedModel>((resolve) =>
        gates.set(r.key, () =>
          resolve({ ref: r, generate: () => Promise.reject(new Error()), dispose: async () => undefined }),
        ),
      ),
    on: (r, e) => told.push(`${r.key} ${e.type} ${table.get(r.key) === undefined ? 'gone' : 'there'}`),
  });
  const other: ModelRef = { id: 'o/x', revision: 'main', key: 'o/x@main' };
  const a = table.open(ref, { dtype: ['q8'] });
  a.join(() => undefined);
  a.start();
  table.open(other).start();
  t.equal(table.size, 2);
  t.same([...table.keys()], ['o/m@main', 'o/x@main']);
  t.same(a.dtype, ['q8']);
  t.equal(table.subscribers(), 1);
  gates.get('o/m@main')?.();
  await a.model;
  t.same(told, ['o/m@main returned gone', 'o/m@main sent gone', 'o/m@main settled gone']);
  t.same(
    table.values().map((l) => l.ref.key),
    ['o/x@main'],
  );
  const closing = table.abortAll();
  t.equal(table.get('o/x@main')?.phase, 'aborting');
  gates.get('o/x@main')?.();
  await closing;
  t.equal(table.size, 0);
  await tick();
});
