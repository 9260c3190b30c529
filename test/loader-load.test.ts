import { cp, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { MODEL_UNLOADED, type LoadedModel } from '../src/server/loader-types.js';
import { readRef, snapshotDir } from '../src/server/fetch/model-cache.js';
import { weightItems } from '../src/server/text-tools.js';
import { createTransformersLoader } from '../src/server/transformers-loader.js';
import { cacheTree, commitOf, fileGets } from './helpers/hf-cache.js';
import { assertProgress, refOf, stages, startLoaderStack } from './helpers/loader.js';

const TINY = refOf('modeldeck/tiny-chat');
const ENDLESS = refOf('test/endless-chat');

// The mirror's root: tiny-chat as generated, and a copy that never emits end-of-sequence (its configs name no EOS
// token), so a generation runs until it is stopped. Failures are in loader-errors.test.ts.
const { tinyDir, mirror, cacheDir, load } = await startLoaderStack(t, async (root, tinyDir) => {
  await cp(tinyDir, join(root, 'test', 'endless-chat'), { recursive: true });
  for (const file of ['config.json', 'generation_config.json']) {
    const path = join(root, 'test', 'endless-chat', file);
    const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    delete json['eos_token_id'];
    await writeFile(path, JSON.stringify(json));
  }
});

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
  const commit = await commitOf(mirror.url, TINY.id);
  const gets = fileGets(mirror);
  const needed = [
    'config.json',
    'generation_config.json',
    'onnx/model.onnx',
    'tokenizer.json',
    'tokenizer_config.json',
  ];
  t.same([...new Set(gets.map((g) => g.path))].sort(), needed, 'the needed files, nothing else');
  t.ok(
    mirror.requests.filter((r) => r.url.includes('/resolve/')).every((r) => r.url.includes(`/resolve/${commit}/`)),
    'every file fetched by the commit, not by the branch name',
  );
  for (const path of needed) {
    const size = (await stat(join(tinyDir, ...path.split('/')))).size;
    t.equal(
      gets.filter((g) => g.path === path).reduce((sum, g) => sum + g.bytes, 0),
      size,
      `${path}: each byte fetched once`,
    );
  }

  const dir = snapshotDir(cacheDir, TINY, commit);
  t.same(await cacheTree(dir), needed, 'the snapshot holds exactly those files');
  for (const path of needed) {
    const link = await readlink(join(dir, ...path.split('/')));
    t.match(link, new RegExp(`^(\\.\\./)+blobs/[0-9a-f]{40,64}$`), `${path}: a relative link into blobs/`);
    t.same(await readFile(join(dir, ...path.split('/'))), await readFile(join(tinyDir, ...path.split('/'))));
  }
  t.equal(await readRef(cacheDir, TINY), commit, 'refs/main holds the commit');
  t.same(await loader.listCached(), [TINY]);

  mirror.clearRequests();
  const second = await load(createTransformersLoader({ hubUrl: mirror.url, cacheDir }), TINY);
  t.same(
    mirror.requests.map((r) => r.url.replace(/\?.*$/, '')),
    [`/api/models/${TINY.id}/revision/main`],
    "a second loader on the same cache asks the hub for the commit only (the commit's listing is kept)",
  );
  t.same(stages(second.events), ['processor', 'config', 'weights'], 'and has no download stage');
  assertProgress(t, second.events, 'weights', weightItems([onnxSize]));

  mirror.clearRequests();
  const offline = await load(createTransformersLoader({ hubUrl: 'http://127.0.0.1:9', cacheDir, offline: true }), TINY);
  t.same(stages(offline.events), ['processor', 'config', 'weights'], 'offline, a cached model loads');
  const down = await load(createTransformersLoader({ hubUrl: 'http://127.0.0.1:9', cacheDir }), TINY);
  t.same(stages(down.events), ['processor', 'config', 'weights'], 'with the hub unreachable, the cache is used');
  await down.model.dispose();
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
  // Where the pieces split depends on timing (tokens less than TEXT_INTERVAL_MS apart share a piece); the text and
  // the counts do not.
  const outcome = ({ pieces: _pieces, ...rest }: Awaited<ReturnType<typeof run>>) => rest;

  const a = await run(tiny, { maxTokens: 200, seed: 2 });
  const b = await run(tiny, { maxTokens: 200, seed: 2 });
  t.ok(a.text.trim().length > 0, `produces text: ${JSON.stringify(a.text)}`);
  t.ok(a.pieces.length > 1, 'streamed in pieces');
  t.same(outcome(b), outcome(a), 'the same seed gives the same text and counts');
  t.ok(a.promptTokens > 0, 'counts the prompt tokens');
  t.ok(a.completionTokens > 0 && a.completionTokens < 200, 'ends before maxTokens');
  t.equal(a.finishReason, 'stop', 'on end-of-sequence');
  const other = await run(tiny, { maxTokens: 200, seed: 3 });
  t.not(other.text, a.text, 'another seed, another text');
  const greedy = await run(tiny, { maxTokens: 30, temperature: 0 });
  t.same(
    outcome(await run(tiny, { maxTokens: 30, temperature: 0 })),
    outcome(greedy),
    'temperature 0 is greedy: no seed needed',
  );

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
  const result = await endless.generate(
    hello,
    { maxTokens: 4000, seed: 1 },
    () => controller.abort(),
    controller.signal,
  );
  t.equal(result.finishReason, 'stop', 'an aborted generation resolves normally');
  t.ok(result.completionTokens < 4000, `and stops early (${result.completionTokens} tokens)`);
  t.match(
    await run(endless, { maxTokens: 3, seed: 1 }),
    { completionTokens: 3 },
    'the model still generates afterwards',
  );
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
  t.ok(
    log.slice(firstDone + 1).every((e) => e.startsWith('second:')) && log.at(-1) === 'second:done',
    'then the second',
  );
});

t.test('dispose rejects a running generation and refuses new ones', async (t) => {
  // Several times: terminating a worker inside an ONNX Runtime call aborts the whole process, so dispose must wait
  // for the running step; a single round could pass by luck.
  for (let round = 0; round < 3; round += 1) {
    const model = (await load(createTransformersLoader({ hubUrl: mirror.url, cacheDir }), ENDLESS)).model;
    let started!: () => void;
    const streaming = new Promise<void>((resolve) => (started = resolve));
    const running = model.generate([{ role: 'user', content: 'Hi' }], { maxTokens: 4000, seed: round }, () =>
      started(),
    );
    await streaming;
    await model.dispose();
    await t.rejects(
      running,
      { message: 'the model test/endless-chat@main was unloaded', code: MODEL_UNLOADED },
      'an unload is not a failed generation: the caller is told the model went away',
    );
    await t.rejects(
      model.generate([{ role: 'user', content: 'Hi' }], { maxTokens: 3 }, () => undefined),
      /was unloaded/,
    );
    await model.dispose();
  }
  const invalid = tiny.generate([{ role: 'user', content: 'Hi' }], { maxTokens: 0 }, () => undefined);
  await t.rejects(invalid, /maxTokens must be a positive integer/);
});
