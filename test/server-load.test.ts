import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { LoadEvent } from '../src/protocol/events.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel, stagesOf, type LoadTranscript } from './helpers/sse-client.js';
import { fileDownloads, startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;

// A root with the tiny demo model twice: as `main`, and as a second revision so `@rev` requests can be told apart.
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-mirror-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
await cp(join(models, MODEL), join(root, `${MODEL}@v2`), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** Asserts the invariants every transcript keeps, whatever the scenario. */
function assertInvariants(t: Test, events: readonly LoadEvent[], key: string): void {
  const terminal = events.filter((e) => e.status !== 'loading');
  t.equal(terminal.length, 1, 'exactly one terminal event');
  t.equal(events.at(-1), terminal[0], 'and it is the last one');
  t.ok(events.every((e) => e.model === key), `every event names ${key}`);
  const totals = new Map<string, number | null>();
  const last = new Map<string, number>();
  for (const e of events) {
    if (e.status !== 'loading' || !e.progress) continue;
    const { current, total } = e.progress;
    t.ok(total !== null && current <= total, `${e.stage}: ${current} <= ${total}`);
    t.ok(current >= (last.get(e.stage) ?? 0), `${e.stage}: never decreases`);
    last.set(e.stage, current);
    if (totals.has(e.stage)) t.equal(total, totals.get(e.stage), `${e.stage}: total fixed`);
    totals.set(e.stage, total);
  }
}

t.test('a fresh load, then a load from memory, then from the disk cache in a new server', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  mirror.clearRequests();

  const fresh = await loadModel(server.url, MODEL);
  t.equal(fresh.status, 200);
  t.match(fresh.contentType, /^text\/event-stream/);
  t.same(stagesOf(fresh.events), ['processor', 'config', 'download', 'weights', 'ready'], 'stages in order');
  t.same(fresh.events.at(-1), { status: 'ready', model: KEY, cached: false });
  assertInvariants(t, fresh.events, KEY);
  const downloads = fresh.events.filter((e) => e.status === 'loading' && e.stage === 'download');
  const firstDownload = downloads[0];
  const lastDownload = downloads.at(-1);
  t.ok(firstDownload?.status === 'loading' && firstDownload.progress?.total, 'the first download event has its total');
  t.ok(
    lastDownload?.status === 'loading' && lastDownload.progress?.current === lastDownload.progress?.total,
    'download completes',
  );
  const weights = fresh.events.filter((e) => e.status === 'loading' && e.stage === 'weights').at(-1);
  t.ok(weights?.status === 'loading' && weights.progress && weights.progress.current === weights.progress.total,
    'weights complete');
  t.match(fresh.raw[0], /^\{"status": "loading", "model": "modeldeck\/tiny-chat@main", "stage": "processor"\}$/,
    'frames are formatted like upstream');
  const fetched = fileDownloads(mirror);
  t.equal(new Set(fetched).size, fetched.length, 'each file fetched once');
  t.ok(fetched.some((p) => p.endsWith('.onnx')), 'the weights came from the mirror');

  const again = await loadModel(server.url, MODEL);
  t.same(again.events, [{ status: 'ready', model: KEY, cached: true }], 'resident model: one ready, cached');

  mirror.clearRequests();
  const second = await startTestServer({ hubUrl: mirror.url, cacheDir: server.cacheDir });
  t.teardown(() => second.close());
  const fromDisk = await loadModel(second.url, MODEL);
  t.same(stagesOf(fromDisk.events), ['processor', 'config', 'weights', 'ready'], 'no download stage');
  t.same(fromDisk.events.at(-1), { status: 'ready', model: KEY, cached: false }, 'cached means in memory only');
  assertInvariants(t, fromDisk.events, KEY);
  t.same(mirror.requests, [], 'no hub requests at all');
});

t.test('org/name@rev loads that revision', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  mirror.clearRequests();
  const res = await loadModel(server.url, `${MODEL}@v2`);
  t.same(res.events.at(-1), { status: 'ready', model: `${MODEL}@v2`, cached: false });
  assertInvariants(t, res.events, `${MODEL}@v2`);
  t.ok(mirror.requests.length > 0 && mirror.requests.every((r) => !r.url.includes('/main')), 'asked for v2 only');
  const main = await loadModel(server.url, MODEL);
  t.equal(main.events.at(-1)?.status, 'ready');
  t.not(main.events.length, 1, '@main is a different model from @v2: loaded, not cached');
});

t.test('20 concurrent requests share one load', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  mirror.clearRequests();
  mirror.setThrottle(2_000_000);
  t.teardown(() => mirror.setThrottle(0));
  const results = await Promise.all(Array.from({ length: 20 }, () => loadModel(server.url, MODEL)));
  for (const [i, r] of results.entries()) {
    t.equal(r.events.filter((e) => e.status === 'ready').length, 1, `client ${i}: exactly one ready`);
    assertInvariants(t, r.events, KEY);
  }
  const fetched = fileDownloads(mirror);
  t.equal(new Set(fetched).size, fetched.length, `the mirror served each file once (${fetched.join(', ')})`);
  const listings = mirror.requests.filter((r) => r.url.startsWith('/api/'));
  t.equal(listings.length, 1, 'one file listing');
});

t.test('a client that disconnects mid-download does not cancel the load for others', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url, heartbeatMs: 100 });
  t.teardown(() => server.close());
  mirror.setThrottle(300_000);
  t.teardown(() => mirror.setThrottle(0));
  const leaving = new AbortController();
  let lateJoin: Promise<LoadTranscript> | undefined;
  const quitter = loadModel(server.url, MODEL, {
    signal: leaving.signal,
    onEvent: (e) => {
      if (e.status === 'loading' && e.stage === 'download' && e.progress && e.progress.current > 0) {
        lateJoin ??= loadModel(server.url, MODEL);
        leaving.abort();
      }
    },
  });
  const stayer = loadModel(server.url, MODEL);
  const gone = await quitter;
  t.ok(gone.aborted, 'the first client left mid-download');
  t.notOk(gone.events.some((e) => e.status !== 'loading'), 'and saw no terminal event');
  const stayed = await stayer;
  t.same(stayed.events.at(-1), { status: 'ready', model: KEY, cached: false }, 'the other client got ready');
  assertInvariants(t, stayed.events, KEY);
  t.ok(stayed.comments.includes('keep-alive'), 'heartbeats flowed during the throttled download');
  const joined = await lateJoin!;
  t.equal(joined.events[0]?.status, 'loading', 'the late joiner first gets the current state');
  t.ok(joined.events[0]?.status === 'loading' && joined.events[0].stage === 'download' && joined.events[0].progress,
    'which is the download stage with its progress');
  assertInvariants(t, joined.events, KEY);
  const after = await loadModel(server.url, MODEL);
  t.same(after.events, [{ status: 'ready', model: KEY, cached: true }], 'the model stayed loaded');
});
