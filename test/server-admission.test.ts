// Admission alone (admission.ts, with the --max-models slots of model-slots.ts and the --max-loads slots of
// load-limiter.ts): what a request for a model gets, eviction under --max-models, the lines for a model slot and for
// a load slot and what a load in them is told, the bound of the wait, dtype conflicts; over a real resident table, a
// plain map of loads under way and a fake clock.
import t from 'tap';
import type { LoadQueue } from '../src/protocol/events.js';
import { createAdmission } from '../src/server/admission.js';
import { createLoadLimiter, type SlotPlace } from '../src/server/load-limiter.js';
import { LoadError, type LoadedModel, type ModelRef } from '../src/server/loader-types.js';
import { createResidentTable } from '../src/server/resident-table.js';
import { createFakeClock } from './helpers/fake-clock.js';

const ref = (id: string): ModelRef => ({ id, revision: 'main', key: `${id}@main` });
const tick = () => new Promise((r) => setImmediate(r));

function model(id: string, dtype?: string): LoadedModel {
  return {
    ref: ref(id),
    ...(dtype === undefined ? {} : { dtype }),
    generate: () => Promise.reject(new Error('not used')),
    dispose: async () => undefined,
  };
}

interface Load {
  readonly dtype: readonly string[] | undefined;
}

function setup(maxModels: number, maxLoads = 0, maxWaitingLoads = 2) {
  const clock = createFakeClock();
  const residents = createResidentTable({ idleTimeoutMs: 0, clock, onIdle: () => undefined });
  const loads = new Map<string, Load>();
  const evicted: string[] = [];
  const admission = createAdmission({
    maxModels,
    maxLoads,
    modelSlotWaitMs: 1000,
    maxWaitingLoads,
    residents,
    loads,
    evict: (key) => {
      evicted.push(key);
      residents.remove(key);
    },
    clock,
  });
  /** A load of `id` in its slots: what it was told while it waited, whether it ran, how it ended. */
  const start = (id: string, signal?: AbortSignal) => {
    const told: LoadQueue[] = [];
    const state = { ran: false, outcome: undefined as string | undefined };
    const done = admission
      .inSlots(
        ref(id),
        signal,
        (queue) => told.push(queue),
        async () => {
          state.ran = true;
        },
      )
      .then(
        () => (state.outcome = 'ran'),
        (error: LoadError) => (state.outcome = `${error.code}: ${error.message}`),
      );
    return { told, state, done };
  };
  return { clock, residents, loads, evicted, admission, start };
}

t.test('a resident model is answered (and marked used); a load under way is joined; else one starts', async (t) => {
  const { clock, residents, loads, admission } = setup(0);
  const a = model('o/a');
  residents.add(a);
  clock.advance(500);
  t.same(admission.admit(ref('o/a')), { kind: 'resident', model: a });
  t.equal(residents.info('o/a@main')?.lastUsedAt, 500, 'marked used now');
  const b: Load = { dtype: undefined };
  loads.set('o/b@main', b);
  const joined = admission.admit(ref('o/b'));
  t.equal(joined.kind === 'join' && joined.load, b);
  t.same(admission.admit(ref('o/c')), { kind: 'start' });
});

t.test('closed: a resident model is still answered, nothing else is admitted', async (t) => {
  const { residents, loads, admission } = setup(0);
  residents.add(model('o/a'));
  loads.set('o/b@main', { dtype: undefined });
  admission.close();
  t.equal(admission.admit(ref('o/a')).kind, 'resident');
  t.same(admission.admit(ref('o/b')), { kind: 'closed' });
  t.same(admission.admit(ref('o/c')), { kind: 'closed' });
});

t.test(
  '--max-models: a load takes a free slot, or makes one by evicting the least recently used idle model',
  async (t) => {
    const { clock, residents, evicted, admission, start } = setup(3);
    residents.add(model('o/a'));
    const release = residents.hold('o/a@main');
    clock.advance(10);
    residents.add(model('o/b'));
    const c = start('o/c');
    t.same(evicted, [], 'under the cap nothing is evicted');
    const d = start('o/d');
    t.same(evicted, ['o/b@main'], 'at once, in the call: o/a was used first, but it is generating');
    await Promise.all([c.done, d.done]);
    t.same([c.state.outcome, d.state.outcome, c.told, d.told], ['ran', 'ran', [], []], 'neither waited');
    clock.advance(10);
    release();
    clock.advance(10);
    residents.add(model('o/c'));
    admission.release('o/c@main');
    const e = start('o/e');
    t.same(evicted, ['o/b@main', 'o/a@main'], 'released at 20 ms, o/a was used before o/c arrived at 30');
    await e.done;
    t.equal(e.state.outcome, 'ran');
  },
);

t.test('--max-models: every slot held by loads, a load waits its turn and goes when one ends', async (t) => {
  const { residents, evicted, admission, start } = setup(2);
  const a = start('o/a');
  const b = start('o/b');
  await Promise.all([a.done, b.done]);
  const c = start('o/c');
  const d = start('o/d');
  t.same(c.told, [{ position: 1, reason: 'model_slot', held_by: ['o/a@main', 'o/b@main'] }], 'told at once');
  t.same(d.told, [{ position: 2, reason: 'model_slot', held_by: ['o/a@main', 'o/b@main'] }]);
  const full = admission.admit(ref('o/e'));
  t.equal(full.kind, 'refused', 'a third would wait, past the line of 2');
  t.equal(
    full.kind === 'refused' && full.error.message,
    'cannot load o/e@main: the server holds its maximum of 2 models (--max-models) and 2 loads already wait for ' +
      'room, the most that may: unload a model (POST /unload_model), raise --max-models, or retry later',
  );

  admission.release('o/a@main'); // o/a failed: its slot is free
  await c.done;
  t.equal(c.state.outcome, 'ran', 'the first in line goes');
  t.same(d.told.at(-1), { position: 1, reason: 'model_slot', held_by: ['o/b@main', 'o/c@main'] }, 'and d moves up');
  t.equal(d.state.outcome, undefined);
  residents.add(model('o/b'));
  admission.release('o/b@main'); // o/b is ready: resident, idle, so it can be evicted
  await d.done;
  t.equal(d.state.outcome, 'ran');
  t.same(evicted, ['o/b@main']);
  t.equal(d.told.length, 2, 'one event per change of place');
});

t.test('--max-models: a load waiting its turn that is aborted leaves the line; the others move up', async (t) => {
  const { admission, start } = setup(1, 0, 5);
  await start('o/a').done;
  const leaving = new AbortController();
  const b = start('o/b', leaving.signal);
  const c = start('o/c');
  t.same(
    c.told.map((q) => q.position),
    [2],
  );
  leaving.abort(new LoadError('CANCELLED', 'loading o/b@main was cancelled'));
  await b.done;
  t.equal(b.state.outcome, 'CANCELLED: loading o/b@main was cancelled', 'rejects with the reason it was given');
  t.same(
    c.told.map((q) => q.position),
    [2, 1],
  );
  const gone = new AbortController();
  gone.abort();
  const late = start('o/late', gone.signal);
  await late.done;
  t.match(late.state.outcome, /^ABORTED/, 'already aborted: never in line');
  admission.release('o/a@main');
  await c.done;
  t.equal(c.state.outcome, 'ran');
  t.equal(b.state.ran, false);
});

t.test('--max-models: slots held by generating models, the line waits the bound, then MODELS_BUSY', async (t) => {
  const { clock, residents, evicted, admission, start } = setup(1);
  residents.add(model('o/a'));
  const release = residents.hold('o/a@main');
  const x = start('o/x');
  t.same(x.told, [{ position: 1, reason: 'model_slot', held_by: ['o/a@main'] }]);
  clock.advance(999);
  await tick();
  t.equal(x.state.outcome, undefined, 'still waiting within the bound');
  release();
  admission.changed(); // the reply ended
  await x.done;
  t.equal(x.state.outcome, 'ran', 'the idle model was evicted for it');
  t.same(evicted, ['o/a@main']);

  residents.add(model('o/x'));
  admission.release('o/x@main');
  residents.hold('o/x@main');
  residents.hold('o/x@main');
  const y = start('o/y');
  const z = start('o/z');
  clock.advance(1000);
  await Promise.all([y.done, z.done]);
  const busy =
    'the server holds its maximum of 1 model (--max-models) and each was generating replies for the last 1 s: ' +
    'o/x@main (2 replies); unload a model (POST /unload_model), raise --max-models, or retry later';
  t.equal(y.state.outcome, `MODELS_BUSY: cannot load o/y@main: ${busy}`);
  t.equal(z.state.outcome, `MODELS_BUSY: cannot load o/z@main: ${busy}`);
  t.equal(clock.pending(), 0, 'no timer left');
});

t.test('--max-models: the bound runs only while nothing but replies holds the slots', async (t) => {
  const { clock, residents, admission, start } = setup(1);
  const a = start('o/a');
  await a.done;
  const b = start('o/b');
  clock.advance(5000);
  await tick();
  t.equal(b.state.outcome, undefined, 'a load under way holds the slot: no bound');
  t.equal(clock.pending(), 0);
  residents.add(model('o/a'));
  residents.hold('o/a@main'); // a chat took it the moment it was ready
  admission.release('o/a@main');
  t.equal(clock.pending(), 1, 'from now on, the bound');
  clock.advance(1000);
  await b.done;
  t.match(b.state.outcome, /^MODELS_BUSY: .*o\/a@main \(1 reply\)/);
});

t.test('dtype conflicts: resident in one dtype at a time; a load under way keeps its preference', async (t) => {
  const { residents, loads, admission } = setup(0);
  residents.add(model('o/q4', 'q4'));
  residents.add(model('o/plain'));
  t.equal(admission.dtypeConflict(ref('o/q4'), undefined), undefined, 'no dtype never conflicts');
  t.equal(admission.dtypeConflict(ref('o/q4'), ['fp32', 'q4']), undefined);
  t.equal(admission.dtypeConflict(ref('o/q4'), ['auto']), undefined);
  t.equal(admission.dtypeConflict(ref('o/plain'), ['fp16']), undefined, 'a resident model of unknown dtype');
  t.equal(
    admission.dtypeConflict(ref('o/q4'), ['fp32', 'fp16']),
    'o/q4@main is loaded in dtype q4, not fp32, fp16: a model is resident in one dtype at a time. Unload it first ' +
      '(POST /unload_model) to load it in another, or ask without "dtype" to use it',
  );
  loads.set('o/pref@main', { dtype: ['q8', 'q4'] });
  loads.set('o/default@main', { dtype: undefined });
  t.equal(admission.dtypeConflict(ref('o/pref'), ['q8', 'q4']), undefined, 'the same list');
  t.equal(
    admission.dtypeConflict(ref('o/pref'), ['q4', 'q8']),
    'o/pref@main is being loaded with dtype q8, q4, not q4, q8: wait for it to finish and unload it ' +
      '(POST /unload_model), or ask without "dtype"',
    'the same dtypes in another order are another preference',
  );
  t.match(admission.dtypeConflict(ref('o/default'), ['q4']), /is being loaded with the server's dtype choice, not q4/);
  t.equal(admission.dtypeConflict(ref('o/none'), ['q4']), undefined);
});

t.test(
  '--max-loads slots: first come first served, each waiting load told its place; one aborted leaves',
  async (t) => {
    const limiter = createLoadLimiter(1);
    const order: string[] = [];
    const gates: Record<string, () => void> = {};
    const places = { a: [], b: [], c: [], d: [], late: [] } as Record<string, SlotPlace[]>;
    const run = (name: string, signal?: AbortSignal) =>
      limiter.run(
        `o/${name}@main`,
        signal,
        (place) => places[name]?.push(place),
        () =>
          new Promise<string>((resolve) => {
            order.push(name);
            gates[name] = () => resolve(name);
          }),
      );
    const a = run('a');
    const leaving = new AbortController();
    const b = run('b', leaving.signal);
    const c = run('c');
    t.same(places.b, [{ position: 1, running: ['o/a@main'] }], 'told at once');
    t.same(places.c, [{ position: 2, running: ['o/a@main'] }]);
    await tick();
    t.same(order, ['a']);
    t.same([limiter.running, limiter.waiting], [1, 2]);
    leaving.abort();
    await t.rejects(b, { code: 'ABORTED', message: 'the server is shutting down' });
    t.equal(limiter.waiting, 1);
    t.same(places['c']?.at(-1), { position: 1, running: ['o/a@main'] }, 'c moved up');
    gates.a?.();
    t.equal(await a, 'a');
    await tick();
    t.same(order, ['a', 'c'], 'the next in line runs; the one that left never does');
    t.same(places.a, [], 'a never waited');
    gates.c?.();
    t.equal(await c, 'c');
    t.same([limiter.running, limiter.waiting], [0, 0]);
    const d = run('d');
    const aborted = new AbortController();
    aborted.abort();
    await t.rejects(run('late', aborted.signal), { code: 'ABORTED' }, 'no slot free, already aborted');
    t.same(places.late, [], 'never in line');
    gates.d?.();
    await d;
    t.same(order, ['a', 'c', 'd']);
  },
);

t.test('--max-loads 0: no cap, nothing waits; a cap of 2 runs three in turn', async (t) => {
  const { admission } = setup(0, 0);
  const told: LoadQueue[] = [];
  const results = await Promise.all(
    [1, 2, 3].map((n) =>
      admission.inSlots(
        ref(`o/${n}`),
        undefined,
        (q) => told.push(q),
        async () => n,
      ),
    ),
  );
  t.same(results, [1, 2, 3]);
  t.same(told, []);
  const capped = setup(0, 2).admission;
  const third: LoadQueue[] = [];
  const capResults = await Promise.all(
    [1, 2, 3].map((n) =>
      capped.inSlots(
        ref(`o/${n}`),
        undefined,
        (q) => n === 3 && third.push(q),
        async () => n,
      ),
    ),
  );
  t.same(capResults, [1, 2, 3]);
  t.same(third, [{ position: 1, reason: 'load_slot', running: 2, held_by: ['o/1@main', 'o/2@main'] }]);
});
