import t from 'tap';
import { resolveServeConfig } from '../src/cli/serve.js';
import type { LoadEvent } from '../src/protocol/events.js';
import { createLoadManager } from '../src/server/load-manager.js';
import { createFakeClock } from './helpers/fake-clock.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { until } from './helpers/until.js';
import {
  LoadError,
  type LoadedModel,
  type LoaderEvent,
  type ModelLoader,
  type ModelRef,
} from '../src/server/loader-types.js';

// The manager's own logic (de-duplication, late joiners, coalescing, failures) over a loader whose every step the
// test drives by hand. The real loader is exercised end to end in server-*.test.ts.

const ref = (id: string): ModelRef => ({ id, revision: 'main', key: `${id}@main` });

interface Step {
  readonly ref: ModelRef;
  emit(event: LoaderEvent): void;
  succeed(): void;
  fail(error: unknown): void;
  readonly signal: AbortSignal | undefined;
}

function scriptedLoader(): { loader: ModelLoader; loads: Step[]; disposed: string[] } {
  const loads: Step[] = [];
  const disposed: string[] = [];
  const loader: ModelLoader = {
    load(r, onEvent, signal) {
      return new Promise<LoadedModel>((resolve, reject) => {
        loads.push({
          ref: r,
          emit: onEvent,
          signal,
          succeed: () =>
            resolve({
              ref: r,
              generate: async () => ({ finishReason: 'stop', promptTokens: 0, completionTokens: 0 }),
              dispose: async () => void disposed.push(r.key),
            }),
          fail: reject,
        });
      });
    },
    listCached: async () => [],
  };
  return { loader, loads, disposed };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('one load per model; every subscriber sees it; late joiners get the current state first', async (t) => {
  const { loader, loads } = scriptedLoader();
  const clock = createFakeClock();
  const manager = createLoadManager({ loader, clock });
  const a: LoadEvent[] = [];
  const b: LoadEvent[] = [];
  const late: LoadEvent[] = [];
  manager.subscribe(ref('o/m'), (e) => a.push(e));
  manager.subscribe(ref('o/m'), (e) => b.push(e));
  t.equal(loads.length, 1, 'one load for two subscribers');
  const step = loads[0]!;
  step.emit({ type: 'stage', stage: 'processor' });
  step.emit({ type: 'stage', stage: 'config' });
  step.emit({ type: 'stage', stage: 'download' });
  t.same(
    a.map((e) => e.status === 'loading' && e.stage),
    ['processor', 'config'],
    'download waits for its total',
  );
  step.emit({ type: 'progress', stage: 'download', current: 0, total: 100 });
  manager.subscribe(ref('o/m'), (e) => late.push(e));
  t.same(
    late,
    [{ status: 'loading', model: 'o/m@main', stage: 'download', progress: { current: 0, total: 100 } }],
    'the late joiner starts from the current state',
  );
  step.emit({ type: 'progress', stage: 'download', current: 10, total: 100 });
  step.emit({ type: 'progress', stage: 'download', current: 20, total: 100 });
  step.emit({ type: 'progress', stage: 'download', current: 30, total: 100 });
  t.equal(a.length, 3, 'progress within 100 ms is coalesced');
  clock.advance(100);
  t.same(
    a.at(-1),
    { status: 'loading', model: 'o/m@main', stage: 'download', progress: { current: 30, total: 100 } },
    'and the latest value goes out when the interval has passed',
  );
  step.emit({ type: 'progress', stage: 'download', current: 40, total: 100 });
  step.emit({ type: 'progress', stage: 'download', current: 100, total: 100 });
  t.same(
    a.at(-1),
    { status: 'loading', model: 'o/m@main', stage: 'download', progress: { current: 100, total: 100 } },
    'completion is never delayed',
  );
  step.emit({ type: 'stage', stage: 'weights' });
  step.emit({ type: 'progress', stage: 'weights', current: 0, total: 3 });
  step.emit({ type: 'progress', stage: 'weights', current: 1, total: 3 });
  step.emit({ type: 'stage', stage: 'download' });
  step.succeed();
  await tick();
  t.same(a.at(-1), { status: 'ready', model: 'o/m@main', cached: false, size_bytes: null });
  t.same(a, b, 'both subscribers saw the same events');
  t.equal(late.at(-1)?.status, 'ready');
  t.ok(
    a.some((e) => e.status === 'loading' && e.stage === 'weights' && e.progress?.current === 1),
    'a pending progress is flushed before the next stage',
  );
  const again: LoadEvent[] = [];
  manager.subscribe(ref('o/m'), (e) => again.push(e));
  t.same(again, [{ status: 'ready', model: 'o/m@main', cached: true, size_bytes: null }]);
  t.equal(loads.length, 1, 'no new load for a resident model');
  await manager.close();
});

t.test('failures reach every subscriber once and are not cached', async (t) => {
  const { loader, loads } = scriptedLoader();
  const manager = createLoadManager({ loader, clock: createFakeClock() });
  const seen: LoadEvent[] = [];
  manager.subscribe(ref('o/m'), (e) => seen.push(e));
  loads[0]!.fail(new LoadError('MODEL_NOT_FOUND', 'model o/m was not found'));
  await tick();
  t.same(seen, [{ status: 'error', model: 'o/m@main', message: 'model o/m was not found', code: 'MODEL_NOT_FOUND' }]);
  manager.subscribe(ref('o/m'), () => undefined);
  t.equal(loads.length, 2, 'the next request tries again');
  const internal: unknown[] = [];
  const m2 = createLoadManager({ loader, clock: createFakeClock(), onInternalError: (e) => internal.push(e) });
  const seen2: LoadEvent[] = [];
  m2.subscribe(ref('o/x'), (e) => seen2.push(e));
  loads[2]!.fail(new TypeError('boom'));
  await tick();
  t.match(seen2, [{ status: 'error', message: /o\/x@main.*boom/, code: 'LOAD_FAILED' }]);
  t.equal(internal.length, 1, 'an unexpected failure is reported as internal');
});

t.test('unsubscribing does not cancel; a throwing listener does not starve others', async (t) => {
  const { loader, loads } = scriptedLoader();
  const manager = createLoadManager({ loader, clock: createFakeClock() });
  const kept: LoadEvent[] = [];
  const sub = manager.subscribe(ref('o/m'), () => undefined);
  manager.subscribe(ref('o/m'), () => {
    throw new Error('socket gone');
  });
  manager.subscribe(ref('o/m'), (e) => kept.push(e));
  sub.unsubscribe();
  loads[0]!.emit({ type: 'stage', stage: 'processor' });
  t.equal(loads[0]!.signal?.aborted, false, 'the load goes on');
  loads[0]!.succeed();
  await tick();
  t.equal(kept.at(-1)?.status, 'ready');
  t.same(
    manager.residentRefs().map((r) => r.key),
    ['o/m@main'],
  );
});

t.test('idle timeout, unload, acquire, close', async (t) => {
  const { loader, loads, disposed } = scriptedLoader();
  const clock = createFakeClock();
  const unloaded: string[] = [];
  const manager = createLoadManager({
    loader,
    clock,
    idleTimeoutMs: 1000,
    onUnload: (r, why) => unloaded.push(`${r.key}:${why}`),
  });
  const acquiring = manager.acquire(ref('o/a'));
  loads[0]!.succeed();
  const model = await acquiring;
  t.equal(model.ref.key, 'o/a@main');
  clock.advance(900);
  manager.touch('o/a@main');
  clock.advance(900);
  t.same(unloaded, [], 'use resets the idle timer');
  clock.advance(200);
  await tick();
  t.same(unloaded, ['o/a@main:idle'], 'unloaded after a full idle period');
  const again = manager.acquire(ref('o/h'));
  loads.at(-1)!.succeed();
  await again;
  const release = manager.hold('o/h@main');
  clock.advance(5000);
  await tick();
  t.same(unloaded, ['o/a@main:idle'], 'a held model is not unloaded however long it works');
  release();
  release();
  clock.advance(999);
  t.same(unloaded, ['o/a@main:idle'], 'the idle period starts again on release');
  clock.advance(1);
  await tick();
  t.same(unloaded, ['o/a@main:idle', 'o/h@main:idle'], 'then it is unloaded');
  t.same(disposed, ['o/a@main', 'o/h@main']);
  manager.subscribe(ref('o/b'), () => undefined);
  t.same(
    manager.loadingRefs().map((r) => r.key),
    ['o/b@main'],
  );
  const closing = manager.close();
  t.equal(loads.at(-1)!.signal?.aborted, true, 'close aborts running loads');
  loads.at(-1)!.fail(new LoadError('ABORTED', 'aborted'));
  await closing;
  const after: LoadEvent[] = [];
  manager.subscribe(ref('o/c'), (e) => after.push(e));
  t.match(after, [{ status: 'error', code: 'ABORTED' }], 'no new loads after close');
  t.equal(await manager.unload('o/none@main'), false);
});

t.test('an unload is told at once; that its memory is given back, only once the model is disposed of', async (t) => {
  let disposeNow: () => void = () => undefined;
  const disposing = new Promise<void>((resolve) => (disposeNow = resolve));
  const loader: ModelLoader = {
    load: async (r) => ({
      ref: r,
      generate: async () => ({ finishReason: 'stop', promptTokens: 0, completionTokens: 0 }),
      // As a worker's thread: gone only some time after it was asked to go.
      dispose: () => disposing,
    }),
    listCached: async () => [],
  };
  const manager = createLoadManager({ loader, clock: createFakeClock() });
  const seen: string[] = [];
  manager.watch((event) => {
    if (event.type === 'unload' || event.type === 'freed') seen.push(`${event.type} ${event.ref.key}`);
  });
  await manager.acquire(ref('o/a'));
  const unloading = manager.unload('o/a@main');
  await tick();
  t.same(seen, ['unload o/a@main'], 'the unload at once; its worker still runs');
  disposeNow();
  t.equal(await unloading, true);
  t.same(seen, ['unload o/a@main', 'freed o/a@main'], 'freed once disposed of: the feed measures memory then');
});

t.test('events a loader reports synchronously reach the first subscriber', async (t) => {
  const loader: ModelLoader = {
    load(r, onEvent) {
      onEvent({ type: 'stage', stage: 'processor' });
      return new Promise(() => undefined);
    },
    listCached: async () => [],
  };
  const manager = createLoadManager({ loader, clock: createFakeClock() });
  const seen: LoadEvent[] = [];
  manager.subscribe(ref('o/s'), (e) => seen.push(e));
  t.same(seen, [{ status: 'loading', model: 'o/s@main', stage: 'processor' }]);
});

t.test('--model-timeout 0 never unloads a model, however much time passes; a positive timeout does', async (t) => {
  // The idle timeout exactly as `serve` derives it from its flag.
  const idleTimeoutMs = (flag: string): number => {
    const config = resolveServeConfig(['--model-timeout', flag], { HF_HOME: '/nonexistent/modeldeck-test-hf-home' });
    if (!config) throw new Error('no config');
    return config.modelTimeout * 1000;
  };
  t.equal(idleTimeoutMs('0'), 0, '--model-timeout 0 is an idle timeout of 0 ms');

  /**
   * Loads a model, uses it every way a client can (each use re-arms the idle timer, if any), then lets `ms` pass on
   * the fake clock; reports what was unloaded before close, and what close then did.
   */
  const scenario = async (idleMs: number | undefined, ms: number) => {
    const { loader, loads, disposed } = scriptedLoader();
    const clock = createFakeClock();
    const unloaded: string[] = [];
    const manager = createLoadManager({
      loader,
      clock,
      ...(idleMs !== undefined ? { idleTimeoutMs: idleMs } : {}),
      onUnload: (r, why) => unloaded.push(`${r.key}:${why}`),
    });
    const acquiring = manager.acquire(ref('o/m'));
    loads[0]!.succeed();
    await acquiring;
    await manager.acquire(ref('o/m'));
    manager.touch('o/m@main');
    manager.resident('o/m@main');
    manager.subscribe(ref('o/m'), () => undefined);
    manager.hold('o/m@main')();
    const armedTimers = clock.pending();
    // In steps, with the event loop turning in between, so that anything re-armed along the way would fire too.
    for (let i = 0; i < 100; i++) {
      clock.advance(ms / 100);
      await tick();
    }
    const beforeClose = {
      unloaded: [...unloaded],
      disposed: [...disposed],
      resident: manager.residentRefs().map((r) => r.key),
    };
    await manager.close();
    return {
      ...beforeClose,
      armedTimers,
      loads: loads.length,
      closeUnloaded: unloaded.slice(beforeClose.unloaded.length),
    };
  };

  const TEN_YEARS = 10 * 365 * 24 * 3600 * 1000;
  const never = await scenario(idleTimeoutMs('0'), TEN_YEARS);
  t.same(never.unloaded, [], 'timeout 0, ten years idle: not unloaded');
  t.same(never.disposed, [], 'not disposed');
  t.same(never.resident, ['o/m@main'], 'still resident');
  t.equal(never.armedTimers, 0, 'no idle timer was ever armed');
  t.equal(never.loads, 1, 'every use was served by the one load');
  t.same(never.closeUnloaded, ['o/m@main:shutdown'], 'only shutting down unloads it');

  const omitted = await scenario(undefined, TEN_YEARS);
  t.same(
    [omitted.unloaded, omitted.resident],
    [[], ['o/m@main']],
    'without idleTimeoutMs the manager never unloads either',
  );

  const unloads = await scenario(idleTimeoutMs('2'), 2000);
  t.equal(unloads.armedTimers, 1, '--model-timeout 2: one idle timer');
  t.same(unloads.unloaded, ['o/m@main:idle'], 'which unloads the model once 2 s have passed since its last use');
  t.same(unloads.disposed, ['o/m@main'], 'disposed');
  t.same(unloads.resident, [], 'no longer resident');
  t.same(unloads.closeUnloaded, [], 'so close has nothing left to unload');
});

t.test('a model is resident in one dtype at a time: another is a conflict, no dtype never is', async (t) => {
  const gated = gatedLoader();
  const manager = createLoadManager({ loader: gated.loader, clock: createFakeClock() });
  t.teardown(() => manager.close());
  const multi = ref('acme/multi');
  const events: LoadEvent[] = [];
  manager.subscribe(multi, (event) => events.push(event), { dtype: ['q4', 'q8'] });
  const gate = await gated.loadStarted(multi.key);
  t.equal(manager.dtypeConflict(multi, undefined), undefined, 'no dtype joins any load');
  t.equal(manager.dtypeConflict(multi, ['q4', 'q8']), undefined, 'the same preference joins');
  t.match(manager.dtypeConflict(multi, ['fp16']), /is being loaded with dtype q4, q8, not fp16/);
  gate.release();
  await until('the load to be ready', () => events.some((event) => event.status === 'ready'));
  t.equal(manager.resident(multi.key)?.dtype, 'q4');
  t.equal(manager.dtypeConflict(multi, ['q4']), undefined);
  t.equal(manager.dtypeConflict(multi, ['fp32', 'q4']), undefined, 'a list naming the resident dtype');
  t.equal(manager.dtypeConflict(multi, ['fp32', 'auto']), undefined, 'a list with auto');
  t.match(manager.dtypeConflict(multi, ['fp32']), /is loaded in dtype q4, not fp32: .*POST \/unload_model/);
  t.equal(manager.dtypeConflict(ref('acme/other'), ['fp32']), undefined, 'nothing resident, nothing loading');
});
