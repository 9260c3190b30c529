// Admission alone (admission.ts, with the --max-loads slots of load-limiter.ts): what a request for a model gets,
// eviction under --max-models, dtype conflicts, and the line for a slot, over a real resident table and a plain map
// of loads under way.
import t from 'tap';
import { createAdmission } from '../src/server/admission.js';
import { createLoadLimiter } from '../src/server/load-limiter.js';
import type { LoadedModel, ModelRef } from '../src/server/loader-types.js';
import { createResidentTable } from '../src/server/resident-table.js';
import { createFakeClock } from './helpers/fake-clock.js';

const ref = (id: string): ModelRef => ({ id, revision: 'main', key: `${id}@main` });

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

function setup(maxModels: number, maxLoads = 0) {
  const clock = createFakeClock();
  const residents = createResidentTable({ idleTimeoutMs: 0, clock, onIdle: () => undefined });
  const loads = new Map<string, Load>();
  const evicted: string[] = [];
  const admission = createAdmission({
    maxModels,
    maxLoads,
    residents,
    loads,
    evict: (key) => {
      evicted.push(key);
      residents.remove(key);
    },
  });
  return { clock, residents, loads, evicted, admission };
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

t.test('--max-models: the least recently used model not generating is evicted to make room', async (t) => {
  const { clock, residents, loads, evicted, admission } = setup(3);
  residents.add(model('o/a'));
  const release = residents.hold('o/a@main');
  clock.advance(10);
  residents.add(model('o/b'));
  t.same(admission.admit(ref('o/c')), { kind: 'start' }, 'under the cap nothing is evicted');
  loads.set('o/c@main', { dtype: undefined });
  t.same(admission.admit(ref('o/d')), { kind: 'start' });
  t.same(evicted, ['o/b@main'], 'o/a was used first, but it is generating');
  loads.set('o/d@main', { dtype: undefined });
  clock.advance(10);
  release();
  clock.advance(10);
  loads.delete('o/c@main');
  residents.add(model('o/c'));
  t.same(admission.admit(ref('o/e')), { kind: 'start' });
  t.same(evicted, ['o/b@main', 'o/a@main'], 'released at 20 ms, o/a was used before o/c arrived at 30');
});

t.test(
  '--max-models: with every model generating or loading, the load is refused with what holds the slots',
  async (t) => {
    const { residents, loads, evicted, admission } = setup(2);
    residents.add(model('o/a'));
    residents.hold('o/a@main');
    residents.hold('o/a@main');
    loads.set('o/b@main', { dtype: undefined });
    const refused = admission.admit(ref('o/c'));
    t.equal(refused.kind, 'refused');
    if (refused.kind !== 'refused') return;
    t.equal(refused.error.code, 'MODELS_BUSY');
    t.equal(
      refused.error.message,
      'cannot load o/c@main: the server holds its maximum of 2 models (--max-models) and none can be unloaded: ' +
        'o/a@main (generating 2), o/b@main (loading); retry when one is idle, or raise --max-models',
    );
    t.same(evicted, []);
    t.match(setup(1).admission.admit(ref('o/x')), { kind: 'start' }, '1 model, nothing held: room');
  },
);

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

t.test('--max-loads slots: first come first served; a waiting load aborted leaves the line with ABORTED', async (t) => {
  const limiter = createLoadLimiter(1);
  const order: string[] = [];
  const gates: Record<string, () => void> = {};
  const task = (name: string) => () =>
    new Promise<string>((resolve) => {
      order.push(name);
      gates[name] = () => resolve(name);
    });
  const a = limiter.run(undefined, task('a'));
  const leaving = new AbortController();
  const b = limiter.run(leaving.signal, task('b'));
  const c = limiter.run(undefined, task('c'));
  await new Promise((r) => setImmediate(r));
  t.same(order, ['a']);
  t.same([limiter.running, limiter.waiting], [1, 2]);
  leaving.abort();
  await t.rejects(b, { code: 'ABORTED', message: 'the server is shutting down' });
  t.equal(limiter.waiting, 1);
  gates.a?.();
  t.equal(await a, 'a');
  await new Promise((r) => setImmediate(r));
  t.same(order, ['a', 'c'], 'the next in line runs; the one that left never does');
  gates.c?.();
  t.equal(await c, 'c');
  t.same([limiter.running, limiter.waiting], [0, 0]);
  const d = limiter.run(undefined, task('d'));
  const aborted = new AbortController();
  aborted.abort();
  await t.rejects(limiter.run(aborted.signal, task('late')), { code: 'ABORTED' }, 'no slot free, already aborted');
  gates.d?.();
  await d;
  t.same(order, ['a', 'c', 'd']);
});

t.test('--max-loads 0: no cap, the task runs synchronously', async (t) => {
  const { admission } = setup(0, 0);
  let ran = false;
  const running = admission.inSlot(undefined, async () => {
    ran = true;
    return 1;
  });
  t.equal(ran, true, 'ran inside the call');
  t.equal(await running, 1);
  const capped = setup(0, 2).admission;
  const results = await Promise.all([1, 2, 3].map((n) => capped.inSlot(undefined, async () => n)));
  t.same(results, [1, 2, 3], 'a cap of 2 runs three in turn');
});
