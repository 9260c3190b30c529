import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { LoadEvent } from '../src/protocol/events.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel, type LoadTranscript } from './helpers/sse-client.js';
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
  t.ok(
    events.every((e) => e.model === key),
    `every event names ${key}`,
  );
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

/** Python's `json.dumps` of an object of primitives and objects (`", "` and `": "` separators), as upstream sends. */
function pythonDumps(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  return `{${Object.entries(value)
    .map(([k, v]) => `${JSON.stringify(k)}: ${pythonDumps(v)}`)
    .join(', ')}}`;
}

type Label = 'processor' | 'config' | 'download' | 'weights' | 'ready';

/**
 * Asserts a whole `/load_model` transcript of a load that is not served from memory, frame by frame, against
 * docs/protocol.md: `processor` then `config`, each exactly one frame without progress; then (when the weights are
 * not on disk) `download`, then `weights`, whose frames all carry `progress` (a progress stage has no stage-only
 * frame: its first frame is its first progress, which carries the total); then exactly `{status, model, cached:false}`.
 * Every frame has exactly the documented fields, in the documented order, and names `key`. Progress values vary from
 * run to run, so only their shape and invariants are checked.
 */
function assertFullTranscript(t: Test, tr: LoadTranscript, key: string, withDownload: boolean): void {
  const expected: Label[] = withDownload
    ? ['processor', 'config', 'download', 'weights', 'ready']
    : ['processor', 'config', 'weights', 'ready'];
  t.equal(tr.raw.length, tr.events.length, 'every data frame parsed as an event');
  const frames = tr.raw.map((raw) => JSON.parse(raw) as Record<string, unknown>);
  const labelOf = (f: Record<string, unknown>): string =>
    f['status'] === 'loading' ? String(f['stage']) : String(f['status']);

  // The runs of equal labels, in order: each expected label exactly once, no other label, none repeated later.
  const runs: { label: string; frames: Record<string, unknown>[] }[] = [];
  for (const f of frames) {
    const label = labelOf(f);
    if (runs.at(-1)?.label === label) runs.at(-1)!.frames.push(f);
    else runs.push({ label, frames: [f] });
  }
  t.strictSame(
    runs.map((r) => r.label),
    expected,
    `frame sequence ${frames.map(labelOf).join(', ')}`,
  );
  const run = (label: Label) => runs.find((r) => r.label === label)?.frames ?? [];

  for (const [i, f] of frames.entries()) {
    t.equal(f['model'], key, `frame ${i}: model is ${key}`);
    t.equal(Object.keys(f)[0], 'status', `frame ${i}: status comes first`);
    t.equal(Object.keys(f)[1], 'model', `frame ${i}: model comes second`);
    t.equal(tr.raw[i], pythonDumps(f), `frame ${i}: formatted like Python's json.dumps`);
  }

  for (const stage of ['processor', 'config'] as const) {
    t.strictSame(run(stage), [{ status: 'loading', model: key, stage }], `${stage}: exactly one frame, no progress`);
  }

  for (const stage of withDownload ? (['download', 'weights'] as const) : (['weights'] as const)) {
    const got = run(stage);
    t.ok(got.length >= 1, `${stage}: at least one frame (${got.length})`);
    let total: unknown;
    let previous = -1;
    for (const [i, f] of got.entries()) {
      const where = `${stage} frame ${i}`;
      t.strictSame(
        Object.keys(f),
        ['status', 'model', 'stage', 'progress'],
        `${where}: exactly status, model, stage, progress`,
      );
      t.equal(f['status'], 'loading', `${where}: loading`);
      const progress = f['progress'] as Record<string, unknown> | undefined;
      t.strictSame(Object.keys(progress ?? {}), ['current', 'total'], `${where}: progress is {current, total}`);
      const current = progress?.['current'];
      const tot = progress?.['total'];
      t.ok(
        Number.isSafeInteger(current) && (current as number) >= 0,
        `${where}: current ${String(current)} is a count`,
      );
      t.ok(Number.isSafeInteger(tot) && (tot as number) > 0, `${where}: total ${String(tot)} is known and positive`);
      t.ok((current as number) <= (tot as number), `${where}: current <= total`);
      t.ok((current as number) >= previous, `${where}: current never decreases`);
      if (i === 0) total = tot;
      else t.equal(tot, total, `${where}: total never changes`);
      previous = current as number;
    }
    const first = got[0]?.['progress'] as { current: number } | undefined;
    t.equal(first?.current, 0, `${stage}: the stage's first frame (its start) is not dropped`);
    const last = got.at(-1)?.['progress'] as { current: number; total: number } | undefined;
    t.ok(last !== undefined && last.current === last.total, `${stage}: its last frame is its completion`);
  }

  t.equal(run('ready').length, 1, 'exactly one terminal frame');
  const ready = frames.at(-1) ?? {};
  t.strictSame(
    Object.keys(ready),
    ['status', 'model', 'cached', 'size_bytes', 'dtype'],
    "the last frame is ready, with modeldeck's size and dtype after upstream's fields",
  );
  t.match(ready, { status: 'ready', model: key, cached: false, size_bytes: Number, dtype: 'fp32' }, 'not cached');
  t.ok((ready['size_bytes'] as number) > 0, 'the size of its weights');
  t.strictSame(tr.events.at(-1), ready, 'and so is the parsed event');
  t.equal(tr.status, 200);
  t.match(tr.contentType, /^text\/event-stream/);
  t.notOk(tr.aborted, 'the server closed the stream');
}

t.test('a fresh load, then a load from memory, then from the disk cache in a new server', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  mirror.clearRequests();

  const fresh = await loadModel(server.url, MODEL);
  await t.test('the full ordered event list of a fresh load, frame by frame', async (t) => {
    assertFullTranscript(t, fresh, KEY, true);
  });
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
  t.ok(
    weights?.status === 'loading' && weights.progress && weights.progress.current === weights.progress.total,
    'weights complete',
  );
  t.match(
    fresh.raw[0],
    /^\{"status": "loading", "model": "modeldeck\/tiny-chat@main", "stage": "processor"\}$/,
    'frames are formatted like upstream',
  );
  const fetched = fileDownloads(mirror);
  t.equal(new Set(fetched).size, fetched.length, 'each file fetched once');
  t.ok(
    fetched.some((p) => p.startsWith('onnx/model.onnx')),
    'the weights came from the mirror',
  );

  const again = await loadModel(server.url, MODEL);
  t.match(
    again.events,
    [{ status: 'ready', model: KEY, cached: true, size_bytes: Number }],
    'resident model: one ready, cached',
  );
  t.equal(again.events.length, 1);

  mirror.clearRequests();
  const second = await startTestServer({ hubUrl: mirror.url, cacheDir: server.cacheDir });
  t.teardown(() => second.close());
  const fromDisk = await loadModel(second.url, MODEL);
  await t.test(
    'a load from the disk cache, frame by frame: no download stage, and cached means in memory only',
    async (t) => {
      assertFullTranscript(t, fromDisk, KEY, false);
    },
  );
  assertInvariants(t, fromDisk.events, KEY);
  t.same(
    mirror.requests.map((r) => r.url.replace(/\/(revision|tree)\/.*$/, '/$1')),
    [`/api/models/${MODEL}/revision`],
    "only the commit of main is asked of the hub (the commit's listing is kept with its snapshot)",
  );
});

t.test('org/name@rev loads that revision', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  mirror.clearRequests();
  const res = await loadModel(server.url, `${MODEL}@v2`);
  t.match(res.events.at(-1), { status: 'ready', model: `${MODEL}@v2`, cached: false });
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
  t.equal(listings.length, 2, 'one revision lookup and one file listing');
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
  t.notOk(
    gone.events.some((e) => e.status !== 'loading'),
    'and saw no terminal event',
  );
  const stayed = await stayer;
  t.match(stayed.events.at(-1), { status: 'ready', model: KEY, cached: false }, 'the other client got ready');
  assertInvariants(t, stayed.events, KEY);
  t.ok(stayed.comments.includes('keep-alive'), 'heartbeats flowed during the throttled download');
  const joined = await lateJoin!;
  t.equal(joined.events[0]?.status, 'loading', 'the late joiner first gets the current state');
  t.ok(
    joined.events[0]?.status === 'loading' && joined.events[0].stage === 'download' && joined.events[0].progress,
    'which is the download stage with its progress',
  );
  assertInvariants(t, joined.events, KEY);
  const after = await loadModel(server.url, MODEL);
  t.match(after.events, [{ status: 'ready', model: KEY, cached: true }], 'the model stayed loaded');
  t.equal(after.events.length, 1);
});
