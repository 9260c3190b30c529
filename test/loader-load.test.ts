import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startMirror, type Mirror } from '../src/mirror/mirror.js';
import { LoadError, type LoadedModel, type LoaderEvent, type ModelLoader, type ModelRef } from '../src/server/loader-types.js';
import { MANIFEST_FILE, snapshotDir } from '../src/server/model-cache.js';
import { weightItems } from '../src/server/model-worker.js';
import { createTransformersLoader } from '../src/server/transformers-loader.js';
import { demoModelsDir } from './helpers/demo.js';

const refOf = (id: string, revision = 'main'): ModelRef => ({ id, revision, key: `${id}@${revision}` });
const TINY = refOf('modeldeck/tiny-chat');
const ENDLESS = refOf('test/endless-chat');
const GATED = refOf('test/gated-chat');
const TOKEN = 'hf_modeldeck_test';

// The mirror's root: tiny-chat as generated; a copy that never emits end-of-sequence (its configs name no EOS token),
// so a generation runs until it is stopped; a gated copy; and a repository without ONNX weights.
const demo = await demoModelsDir();
const tinyDir = join(demo, 'modeldeck', 'tiny-chat');
const root = await mkdtemp(join(tmpdir(), 'modeldeck-loader-root-'));
await cp(tinyDir, join(root, 'modeldeck', 'tiny-chat'), { recursive: true });
await cp(tinyDir, join(root, 'test', 'endless-chat'), { recursive: true });
for (const file of ['config.json', 'generation_config.json']) {
  const path = join(root, 'test', 'endless-chat', file);
  const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  delete json['eos_token_id'];
  await writeFile(path, JSON.stringify(json));
}
await cp(tinyDir, join(root, 'test', 'gated-chat'), { recursive: true });
await cp(tinyDir, join(root, 'test', 'pytorch-only'), { recursive: true });
await rm(join(root, 'test', 'pytorch-only', 'onnx'), { recursive: true });
await writeFile(join(root, 'test', 'pytorch-only', 'model.safetensors'), 'weights');
await cp(tinyDir, join(root, 'test', 'corrupt-chat'), { recursive: true });
await writeFile(join(root, 'test', 'corrupt-chat', 'onnx', 'model.onnx'), 'this is not an ONNX model');

const mirror: Mirror = await startMirror({ root, host: '127.0.0.1', port: 0, requireToken: { token: TOKEN, repos: ['test/gated-*'] } });
const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-loader-cache-'));
const models: LoadedModel[] = [];
t.teardown(async () => {
  for (const model of models) await model.dispose();
  await mirror.close();
  await rm(root, { recursive: true, force: true });
  await rm(cacheDir, { recursive: true, force: true });
});

/** Loads, keeping the events and disposing the model at the end of the file. */
async function load(loader: ModelLoader, ref: ModelRef, signal?: AbortSignal): Promise<{ model: LoadedModel; events: LoaderEvent[] }> {
  const events: LoaderEvent[] = [];
  const model = await loader.load(ref, (e) => events.push(e), signal);
  models.push(model);
  return { model, events };
}

async function loadError(loader: ModelLoader, ref: ModelRef, signal?: AbortSignal): Promise<{ error: LoadError; events: LoaderEvent[] }> {
  const events: LoaderEvent[] = [];
  try {
    models.push(await loader.load(ref, (e) => events.push(e), signal));
  } catch (error) {
    if (error instanceof LoadError) return { error, events };
    throw error;
  }
  throw new Error(`${ref.key} loaded, but a failure was expected`);
}

const stages = (events: readonly LoaderEvent[]): string[] => events.flatMap((e) => (e.type === 'stage' ? [e.stage] : []));

function progressOf(events: readonly LoaderEvent[], stage: 'download' | 'weights'): { current: number; total: number }[] {
  return events.flatMap((e) => (e.type === 'progress' && e.stage === stage ? [{ current: e.current, total: e.total }] : []));
}

function assertProgress(t: Test, events: readonly LoaderEvent[], stage: 'download' | 'weights', total: number): void {
  const points = progressOf(events, stage);
  t.ok(points.length >= 2, `${stage}: reports progress`);
  t.same(points[0], { current: 0, total }, `${stage}: starts at 0 of ${total}`);
  t.ok(points.every((p) => p.total === total), `${stage}: the total never changes`);
  const monotone = points.every((p, i) => p.current <= total && p.current >= (points[i - 1]?.current ?? 0));
  t.ok(monotone, `${stage}: never decreases, never exceeds`);
  t.equal(points.at(-1)?.current, total, `${stage}: ends at the total`);
  // Progress of a stage sits between its stage event and the next one.
  const start = events.findIndex((e) => e.type === 'stage' && e.stage === stage);
  const firstProgress = events.findIndex((e) => e.type === 'progress' && e.stage === stage);
  t.ok(start !== -1 && start < firstProgress, `${stage}: progress follows the stage event`);
}

/** Every file under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

const onnxSize = (await stat(join(tinyDir, 'onnx', 'model.onnx'))).size;
let tiny: LoadedModel;
let endless: LoadedModel;

t.test('a fresh load through the mirror, then from the cache with no hub request at all', async (t) => {
  mirror.clearRequests();
  const loader = createTransformersLoader({ hubUrl: mirror.url, cacheDir });
  const fresh = await load(loader, TINY);
  tiny = fresh.model;
  t.equal(tiny.ref, TINY);
  t.same(stages(fresh.events), ['processor', 'config', 'download', 'weights'], 'stages in order');
  t.same(fresh.events[0], { type: 'stage', stage: 'processor' }, 'the first event is the processor stage');
  assertProgress(t, fresh.events, 'download', onnxSize);
  assertProgress(t, fresh.events, 'weights', weightItems([onnxSize]));
  const downloads = mirror.requests.filter((r) => r.url.includes('/resolve/')).map((r) => r.url.replace(/^.*\/resolve\/main\//, ''));
  const needed = ['config.json', 'generation_config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json'];
  t.same(downloads.sort(), needed, 'one GET per needed file');

  const dir = snapshotDir(cacheDir, TINY);
  t.same(await tree(dir), [MANIFEST_FILE, ...needed].sort(), 'exactly those files and the manifest');
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
  t.match(manifest, { id: TINY.id, revision: 'main', dtype: 'fp32', externalDataChunks: 0, commit: /^[0-9a-f]{40}$/ });
  t.same(await loader.listCached(), [TINY]);

  mirror.clearRequests();
  const second = await load(createTransformersLoader({ hubUrl: mirror.url, cacheDir }), TINY);
  t.same(mirror.requests, [], 'a second loader on the same cache makes no hub request');
  t.same(stages(second.events), ['processor', 'config', 'weights'], 'and has no download stage');
  assertProgress(t, second.events, 'weights', weightItems([onnxSize]));

  const offline = await load(createTransformersLoader({ hubUrl: 'http://127.0.0.1:9', cacheDir, offline: true }), TINY);
  t.same(stages(offline.events), ['processor', 'config', 'weights'], 'offline, a cached model loads');
  await second.model.dispose();
  await offline.model.dispose();
});

t.test('generate', async (t) => {
  const hello = [{ role: 'user' as const, content: 'Hello! Tell me about the town.' }];
  const run = async (model: LoadedModel, options: Parameters<LoadedModel['generate']>[1], signal?: AbortSignal) => {
    const pieces: string[] = [];
    const result = await model.generate(hello, options, (text) => pieces.push(text), signal);
    return { ...result, text: pieces.join(''), pieces };
  };

  const a = await run(tiny, { maxTokens: 200, seed: 2 });
  const b = await run(tiny, { maxTokens: 200, seed: 2 });
  t.ok(a.text.trim().length > 0, `produces text: ${JSON.stringify(a.text)}`);
  t.ok(a.pieces.length > 1, 'streamed in pieces');
  t.same(b, a, 'the same seed gives the same text, pieces and counts');
  t.ok(a.promptTokens > 0, 'counts the prompt tokens');
  t.ok(a.completionTokens > 0 && a.completionTokens < 200, 'ends before maxTokens');
  t.equal(a.finishReason, 'stop', 'on end-of-sequence');
  const other = await run(tiny, { maxTokens: 200, seed: 3 });
  t.not(other.text, a.text, 'another seed, another text');
  const greedy = await run(tiny, { maxTokens: 30, temperature: 0 });
  t.same(await run(tiny, { maxTokens: 30, temperature: 0 }), greedy, 'temperature 0 is greedy: no seed needed');

  // A stop string: the same seeded generation, cut before the stop, which is not included.
  const words = a.text.split(' ');
  const stop = ` ${words[3] ?? ''} `;
  const cut = a.text.indexOf(stop);
  t.ok(cut > 0, `the stop string ${JSON.stringify(stop)} occurs in the text`);
  const stopped = await run(tiny, { maxTokens: 200, seed: 2, stop: ['never appears', stop] });
  t.equal(stopped.text, a.text.slice(0, cut), 'text up to the stop string');
  t.equal(stopped.finishReason, 'stop');
  t.ok(stopped.completionTokens < a.completionTokens, 'generation stopped there');

  endless = (await load(createTransformersLoader({ hubUrl: mirror.url, cacheDir }), ENDLESS)).model;
  const short = await run(endless, { maxTokens: 5, seed: 1 });
  t.match(short, { finishReason: 'length', completionTokens: 5 }, 'maxTokens reached: length');

  const full = await run(endless, { maxTokens: 4000, seed: 1 });
  t.match(full, { finishReason: 'length', completionTokens: 4000 }, 'without an abort, it runs to maxTokens');
  const controller = new AbortController();
  const result = await endless.generate(hello, { maxTokens: 4000, seed: 1 }, () => controller.abort(), controller.signal);
  t.equal(result.finishReason, 'stop', 'an aborted generation resolves normally');
  t.ok(result.completionTokens < 4000, `and stops early (${result.completionTokens} tokens)`);
  t.match(await run(endless, { maxTokens: 3, seed: 1 }), { completionTokens: 3 }, 'the model still generates afterwards');
});

t.test('generations on one model run one at a time', async (t) => {
  const log: string[] = [];
  const generate = (name: string) =>
    tiny
      .generate([{ role: 'user', content: 'Hi' }], { maxTokens: 50, seed: 5 }, () => log.push(`${name}:text`))
      .then((r) => {
        log.push(`${name}:done`);
        return r;
      });
  const [first, second] = await Promise.all([generate('first'), generate('second')]);
  t.same(first, second, 'both complete');
  const firstDone = log.indexOf('first:done');
  t.ok(firstDone > 0 && log.slice(0, firstDone).every((e) => e === 'first:text'), 'the first streams alone');
  t.ok(log.slice(firstDone + 1).every((e) => e.startsWith('second:')) && log.at(-1) === 'second:done', 'then the second');
});

t.test('dispose rejects a running generation and refuses new ones', async (t) => {
  // Several times: terminating a worker inside an ONNX Runtime call aborts the whole process, so dispose must wait
  // for the running step; a single round could pass by luck.
  for (let round = 0; round < 4; round += 1) {
    const model = (await load(createTransformersLoader({ hubUrl: mirror.url, cacheDir }), ENDLESS)).model;
    let started!: () => void;
    const streaming = new Promise<void>((resolve) => (started = resolve));
    const running = model.generate([{ role: 'user', content: 'Hi' }], { maxTokens: 4000, seed: round }, () => started());
    await streaming;
    await model.dispose();
    await t.rejects(running, /generation with test\/endless-chat@main failed: the model test\/endless-chat@main was unloaded/);
    await t.rejects(model.generate([{ role: 'user', content: 'Hi' }], { maxTokens: 3 }, () => undefined), /was unloaded/);
    await model.dispose();
  }
  const invalid = tiny.generate([{ role: 'user', content: 'Hi' }], { maxTokens: 0 }, () => undefined);
  await t.rejects(invalid, /maxTokens must be a positive integer/);
});

t.test('load failures carry codes and messages that say what to do', async (t) => {
  const loader = createTransformersLoader({ hubUrl: mirror.url, cacheDir });

  const unknown = await loadError(loader, refOf('test/no-such-model'));
  t.equal(unknown.error.code, 'MODEL_NOT_FOUND');
  t.equal(unknown.error.message, `model test/no-such-model was not found on the hub at ${mirror.url}; check the id`);
  t.same(stages(unknown.events), ['processor'], 'fails during the processor stage');
  t.notOk((await readdir(join(cacheDir, 'models', 'test'))).includes('no-such-model'), 'and leaves no directory behind');

  t.equal((await loadError(loader, refOf(TINY.id, 'no-such-branch'))).error.code, 'REVISION_NOT_FOUND');

  const noOnnx = await loadError(loader, refOf('test/pytorch-only'));
  t.equal(noOnnx.error.code, 'NO_ONNX_WEIGHTS');
  t.equal(
    noOnnx.error.message,
    'test/pytorch-only has no ONNX weights for transformers.js; ' +
      'look for an onnx-community/… variant on the Hub (https://huggingface.co/onnx-community)',
  );

  const corrupt = await loadError(loader, refOf('test/corrupt-chat'));
  t.equal(corrupt.error.code, 'LOAD_FAILED');
  t.match(corrupt.error.message, /^transformers\.js could not load test\/corrupt-chat@main: /);
  t.same(stages(corrupt.events), ['processor', 'config', 'download', 'weights'], 'fails while building the session');

  const gated = await loadError(loader, GATED);
  t.equal(gated.error.code, 'UNAUTHORIZED');
  t.match(gated.error.message, 'test/gated-chat is gated or private');
  t.match(gated.error.message, 'set HF_TOKEN to a token with access');
  mirror.clearRequests();
  await load(createTransformersLoader({ hubUrl: mirror.url, cacheDir, token: TOKEN }), GATED);
  t.ok(mirror.requests.every((r) => r.status === 200), 'with HF_TOKEN every request of a gated model succeeds');

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const unreachable = await loadError(createTransformersLoader({ hubUrl: deadUrl, cacheDir }), refOf('test/not-cached'));
  t.equal(unreachable.error.code, 'HUB_UNREACHABLE');
  t.match(unreachable.error.message, `cannot reach the hub at ${deadUrl} (ECONNREFUSED)`);
  t.match(unreachable.error.message, '--offline');

  const offline = await loadError(createTransformersLoader({ hubUrl: mirror.url, cacheDir, offline: true }), refOf('test/not-cached'));
  t.equal(offline.error.code, 'OFFLINE_NOT_CACHED');
  t.match(offline.error.message, `test/not-cached@main is not in the cache at ${cacheDir}`);

  const unwritableBase = t.testdir({ file: 'x' });
  const unwritable = await loadError(createTransformersLoader({ hubUrl: mirror.url, cacheDir: join(unwritableBase, 'file') }), TINY);
  t.equal(unwritable.error.code, 'CACHE_NOT_WRITABLE');
  t.match(unwritable.error.message, join(unwritableBase, 'file'));
  t.match(unwritable.error.message, '--cache-dir');
});

t.test('a cut download fails the load, leaves nothing complete-looking, and a retry succeeds', async (t) => {
  const fresh = await mkdtemp(join(tmpdir(), 'modeldeck-loader-cut-'));
  t.teardown(() => rm(fresh, { recursive: true, force: true }));
  const loader = createTransformersLoader({ hubUrl: mirror.url, cacheDir: fresh });
  const dir = snapshotDir(fresh, TINY);
  for (const fault of [
    { kind: 'truncate', path: 'onnx/model.onnx', bytes: 300_000, times: 1 },
    { kind: 'reset', path: 'onnx/model.onnx', afterBytes: 300_000, times: 1 },
  ] as const) {
    mirror.setFaults([fault]);
    const { error, events } = await loadError(loader, TINY);
    t.equal(error.code, 'DOWNLOAD_FAILED', `${fault.kind}: DOWNLOAD_FAILED`);
    t.match(error.message, /^download of onnx\/model\.onnx was cut off after \d+ of \d+ bytes.*; retry$/);
    t.same(stages(events), ['processor', 'config', 'download'], `${fault.kind}: fails in the download stage`);
    const files = await tree(dir);
    t.notOk(files.includes('onnx/model.onnx') || files.includes(MANIFEST_FILE), `${fault.kind}: no ONNX file, no manifest`);
    t.notOk(files.some((f) => f.includes('.tmp-')), `${fault.kind}: no temporary file`);
    t.same(await loader.listCached(), [], `${fault.kind}: not listed as cached`);
  }
  mirror.setFaults([]);
  mirror.clearRequests();
  const retry = await load(loader, TINY);
  t.same(stages(retry.events), ['processor', 'config', 'download', 'weights'], 'the retry loads');
  const refetched = mirror.requests.filter((r) => r.url.includes('/resolve/')).map((r) => r.url.replace(/^.*\/resolve\/main\//, ''));
  t.same(refetched, ['onnx/model.onnx'], 'files completed before the cut are not fetched again');
  assertProgress(t, retry.events, 'download', onnxSize);
  await retry.model.dispose();
});

t.test('aborting a load stops it with ABORTED', async (t) => {
  const fresh = await mkdtemp(join(tmpdir(), 'modeldeck-loader-abort-'));
  t.teardown(() => rm(fresh, { recursive: true, force: true }));
  mirror.setThrottle(100_000);
  t.teardown(() => mirror.setThrottle(0));
  const controller = new AbortController();
  const events: LoaderEvent[] = [];
  const loading = createTransformersLoader({ hubUrl: mirror.url, cacheDir: fresh }).load(
    TINY,
    (e) => {
      events.push(e);
      if (e.type === 'progress' && e.current > 0) controller.abort();
    },
    controller.signal,
  );
  await t.rejects(loading, { code: 'ABORTED' });
  t.same(stages(events), ['processor', 'config', 'download']);
  const left = await tree(snapshotDir(fresh, TINY));
  t.notOk(left.some((f) => f === MANIFEST_FILE || f.startsWith('onnx/')), 'nothing of the weights left');

  // Aborted while the worker builds the ONNX session: the load stops, after the native call has returned.
  mirror.setThrottle(0);
  const late = new AbortController();
  const lateEvents: LoaderEvent[] = [];
  const lateLoad = createTransformersLoader({ hubUrl: mirror.url, cacheDir: fresh }).load(
    TINY,
    (e) => {
      lateEvents.push(e);
      if (e.type === 'progress' && e.stage === 'weights' && e.current === e.total - 1) late.abort();
    },
    late.signal,
  );
  await t.rejects(lateLoad, { code: 'ABORTED' });
  t.same(stages(lateEvents), ['processor', 'config', 'download', 'weights'], 'aborted in the weights stage');
});
