// The feed's view of the models alone (feed-view.ts): what the snapshot and GET /v1/models say of resident models,
// loads under way and models only on disk, from a real resident table on a fake clock.
import t from 'tap';
import { feedModels, withCachedModels, type ViewedLoad } from '../src/server/feed-view.js';
import type { LoadedModel, ModelRef } from '../src/server/loader-types.js';
import { createResidentTable } from '../src/server/resident-table.js';
import { createFakeClock } from './helpers/fake-clock.js';

const ref = (id: string): ModelRef => ({ id, revision: 'main', key: `${id}@main` });

function model(id: string, details: Partial<Pick<LoadedModel, 'weightBytes' | 'dtype' | 'hasChatTemplate'>>) {
  const loaded: LoadedModel = {
    ref: ref(id),
    ...details,
    generate: () => Promise.reject(new Error('not used')),
    dispose: async () => undefined,
  };
  return loaded;
}

t.test('resident models: size, dtype and template when known, idle time, requests under way', async (t) => {
  const clock = createFakeClock();
  const residents = createResidentTable({ idleTimeoutMs: 0, clock, onIdle: () => undefined });
  residents.add(model('o/full', { weightBytes: 1234, dtype: 'q4', hasChatTemplate: false }));
  clock.advance(100);
  residents.add(model('o/bare', {}));
  residents.hold('o/bare@main');
  clock.advance(1500.4);
  t.strictSame(feedModels(residents, [], clock.now()), [
    {
      model: 'o/full@main',
      state: 'resident',
      size_bytes: 1234,
      dtype: 'q4',
      has_chat_template: false,
      idle_ms: 1600,
      active_requests: 0,
      expires_at: null,
      expires_in_ms: null,
    },
    {
      model: 'o/bare@main',
      state: 'resident',
      size_bytes: null,
      idle_ms: 0,
      active_requests: 1,
      expires_at: null,
      expires_in_ms: null,
    },
  ]);
  t.equal(feedModels(residents, [], 0)[0]?.idle_ms, 0, 'an idle time is never negative');
});

t.test(
  'expiry: when the idle timeout unloads a model, as a time and as the time left; null while it works',
  async (t) => {
    const clock = createFakeClock(Date.UTC(2026, 2, 19, 10, 0, 0));
    const residents = createResidentTable({ idleTimeoutMs: 300_000, clock, onIdle: () => undefined });
    residents.add(model('o/a', {}));
    residents.add(model('o/b', {}));
    const release = residents.hold('o/b@main');
    clock.advance(1234);
    const expiry = (list: ReturnType<typeof feedModels>) =>
      list.map(({ model, expires_at, expires_in_ms }) => ({ model, expires_at, expires_in_ms }));
    t.strictSame(expiry(feedModels(residents, [], clock.now())), [
      { model: 'o/a@main', expires_at: '2026-03-19T10:05:00.000Z', expires_in_ms: 298766 },
      { model: 'o/b@main', expires_at: null, expires_in_ms: null },
    ]);
    release();
    clock.advance(1000);
    t.strictSame(expiry(feedModels(residents, [], clock.now())), [
      { model: 'o/a@main', expires_at: '2026-03-19T10:05:00.000Z', expires_in_ms: 297766 },
      { model: 'o/b@main', expires_at: '2026-03-19T10:05:01.234Z', expires_in_ms: 299000 },
    ]);
    clock.advance(400_000);
    t.equal(feedModels(residents, [], clock.now())[0]?.expires_in_ms, 0, 'never negative');
  },
);

t.test('loads under way: stage and progress once known, subscribers; after the resident models', async (t) => {
  const clock = createFakeClock();
  const residents = createResidentTable({ idleTimeoutMs: 0, clock, onIdle: () => undefined });
  residents.add(model('o/r', {}));
  const loads: ViewedLoad[] = [
    { ref: ref('o/new'), last: undefined, subscribers: 0 },
    { ref: ref('o/cfg'), last: { status: 'loading', model: 'o/cfg@main', stage: 'config' }, subscribers: 2 },
    {
      ref: ref('o/dl'),
      last: { status: 'loading', model: 'o/dl@main', stage: 'download', progress: { current: 5, total: 10 } },
      subscribers: 1,
    },
    {
      ref: ref('o/wait'),
      last: { status: 'loading', model: 'o/wait@main', stage: 'queued', queue: { position: 1, reason: 'load_slot' } },
      subscribers: 3,
    },
  ];
  t.strictSame(
    feedModels(residents, loads, 0).map(({ model, state, stage, progress, subscribers }) => ({
      model,
      state,
      stage,
      progress,
      subscribers,
    })),
    [
      { model: 'o/r@main', state: 'resident', stage: undefined, progress: undefined, subscribers: undefined },
      { model: 'o/new@main', state: 'loading', stage: undefined, progress: undefined, subscribers: 0 },
      { model: 'o/cfg@main', state: 'loading', stage: 'config', progress: undefined, subscribers: 2 },
      { model: 'o/dl@main', state: 'loading', stage: 'download', progress: { current: 5, total: 10 }, subscribers: 1 },
      { model: 'o/wait@main', state: 'loading', stage: 'queued', progress: undefined, subscribers: 3 },
    ],
  );
  t.strictSame(feedModels(residents, loads, 0)[4]?.queue, { position: 1, reason: 'load_slot' }, 'with its queue');
  t.notOk('stage' in (feedModels(residents, loads, 0)[1] ?? {}), 'no stage field before the first event');
});

t.test('the snapshot adds the models only on disk, each model once', async (t) => {
  const known = [{ model: 'o/a@main', state: 'resident' as const }];
  t.strictSame(withCachedModels(known, [{ key: 'o/a@main' }, { key: 'o/b@main' }]), [
    { model: 'o/a@main', state: 'resident' },
    { model: 'o/b@main', state: 'cached' },
  ]);
  t.strictSame(withCachedModels([], []), []);
});
