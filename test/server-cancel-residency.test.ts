import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { WIRE_ERRORS } from '../src/protocol/errors.js';
import type { FeedEvent } from '../src/protocol/feed.js';
import { startServer } from '../src/server/start.js';
import { modelWorkerCount } from '../src/server/worker-client.js';
import { watchFeed } from './helpers/feed-client.js';
import { loadModel } from './helpers/sse-client.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { fileDownloads, startTestServer, startTwinMirror, TWIN_A, TWIN_B } from './helpers/stack.js';
import { until } from './helpers/until.js';

const A = TWIN_A;
const B = TWIN_B;
const twins = await startTwinMirror('residency');
const mirror = twins.mirror;
t.teardown(() => twins.close());

function post(url: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

t.test('POST /unload_model cancels a running load for every subscriber; the worker is freed', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(async () => {
    mirror.setThrottle(0);
    await server.close();
  });
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  mirror.setThrottle(100_000);
  const before = fileDownloads(mirror).length;
  let downloading = false;
  const first = loadModel(server.url, A, {
    onEvent: (e) => {
      // Some weight bytes in, so that there is a partial file to resume.
      if (e.status === 'loading' && e.stage === 'download' && (e.progress?.current ?? 0) > 100_000) downloading = true;
    },
  });
  const second = loadModel(server.url, A);
  await until('the download stage', () => downloading);
  t.equal(modelWorkerCount(), 1, 'one worker while loading');
  const cancel = await post(server.url, '/unload_model', { model: A });
  t.equal(cancel.status, 200);
  t.strictSame(await cancel.json(), { status: 'cancelled', model: `${A}@main` });
  for (const transcript of await Promise.all([first, second])) {
    const terminal = transcript.events.filter((e) => e.status !== 'loading');
    t.equal(terminal.length, 1, 'exactly one terminal event');
    t.match(transcript.events.at(-1), { status: 'error', code: 'CANCELLED', message: /cancelled/ });
  }
  t.equal(modelWorkerCount(), 0, 'the worker is gone when the subscribers hear of it');
  await feed.waitFor('the cancelled unload', (e) => e.event === 'unload' && e.data.reason === 'cancelled');
  t.ok(
    feed.events.some((e) => e.event === 'load' && e.data.status === 'error' && e.data.code === 'CANCELLED'),
    'the cancelled error on the feed',
  );
  const afterCancel = fileDownloads(mirror).slice(before);
  const requestsAtCancel = mirror.requests.length;

  mirror.setThrottle(0);
  const again = await loadModel(server.url, A);
  t.match(again.events.at(-1), { status: 'ready', cached: false }, 'a later load succeeds');
  const fetchedAgain = fileDownloads(mirror).slice(before + afterCancel.length);
  const complete = afterCancel.filter((path) => !path.startsWith('onnx/'));
  t.ok(complete.length > 0, `files complete before the cancel: ${complete.join(', ')}`);
  for (const path of complete) t.notOk(fetchedAgain.includes(path), `${path} is not fetched again`);
  const resumed = mirror.requests
    .slice(requestsAtCancel)
    .filter((r) => r.method === 'GET' && r.url.includes('/onnx/') && r.range !== undefined);
  t.ok(resumed.length > 0, `the weights download resumes where it stopped (${resumed.map((r) => r.range).join(', ')})`);
  t.equal((await post(server.url, '/unload_model', { model: A })).status, 200, 'and unloads');
});

t.test('POST /reset cancels the loads under way for every subscriber, and unloads the resident models', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(async () => {
    mirror.setThrottle(0);
    await server.close();
  });
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  t.match((await loadModel(server.url, B)).events.at(-1), { status: 'ready' }, 'B resident');
  mirror.setThrottle(100_000);
  let downloading = false;
  const first = loadModel(server.url, A, {
    onEvent: (e) => {
      if (e.status === 'loading' && e.stage === 'download') downloading = true;
    },
  });
  const second = loadModel(server.url, A);
  await until('the download stage', () => downloading);
  const reset = await post(server.url, '/reset', {});
  t.equal(reset.status, 200);
  t.strictSame(await reset.json(), { status: 'ok', unloaded: [`${B}@main`], cancelled: [`${A}@main`] });
  t.equal(modelWorkerCount(), 0, 'no worker left when /reset answers: nothing loading, nothing resident');
  for (const transcript of await Promise.all([first, second])) {
    t.equal(transcript.events.filter((e) => e.status !== 'loading').length, 1, 'exactly one terminal event');
    t.match(transcript.events.at(-1), {
      status: 'error',
      code: 'CANCELLED',
      message: `loading ${A}@main was cancelled (POST /reset); the files fetched so far stay in the cache`,
    });
  }
  await until('both unloads on the feed', () => feed.events.filter((e) => e.event === 'unload').length >= 2);
  t.strictSame(
    feed.events.flatMap((e) => (e.event === 'unload' ? [`${e.data.model} ${e.data.reason}`] : [])),
    [`${A}@main reset`, `${B}@main reset`],
    'the cancelled load, then the resident model, each with reason reset',
  );
  const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string; status: string }[] };
  t.strictSame(
    listed.data.map((m) => `${m.id} ${m.status}`),
    [`${B}@main cached`],
    'nothing in memory or on its way',
  );
  mirror.setThrottle(0);
  t.match((await loadModel(server.url, A)).events.at(-1), { status: 'ready' }, 'a later load succeeds');
});

t.test(
  '--max-models: the least recently used idle model is evicted; a load waits its turn behind a load under way',
  async (t) => {
    // Started as `modeldeck serve --max-models 1` starts it.
    const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-residency-cache-'));
    const config = resolveServeConfig(
      ['--port', '0', '--hub-url', mirror.url, '--cache-dir', cacheDir, '--max-models', '1'],
      { HF_HOME: join(cacheDir, 'no-hf-home') },
    );
    if (!config) throw new Error('no config');
    const server = await startServer({ ...serverOptions(config), logger: false });
    t.teardown(async () => {
      mirror.setThrottle(0);
      await server.close();
      await rm(cacheDir, { recursive: true, force: true });
    });
    const feed = await watchFeed(server.url);
    t.teardown(() => feed.close());
    t.match((await loadModel(server.url, A)).events.at(-1), { status: 'ready' });
    t.match((await loadModel(server.url, B)).events.at(-1), { status: 'ready' }, 'B loads');
    const evicted = await feed.waitFor('an eviction', (e) => e.event === 'unload');
    t.match(evicted, { data: { model: `${A}@main`, reason: 'evicted' } }, 'A made room');
    const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as {
      data: { id: string; status: string }[];
    };
    t.match(
      listed.data.filter((m) => m.status === 'loaded'),
      [{ id: `${B}@main`, size_bytes: Number, idle_ms: Number, active_requests: 0 }],
    );

    // A load under way holds its slot: a load of another model waits its turn and runs when that one is ready.
    await post(server.url, '/unload_model', { model: B });
    const mark = feed.events.length;
    mirror.setThrottle(100_000);
    const slow = loadModel(server.url, A);
    await until('A loading', async () => {
      const body = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { status: string }[] };
      return body.data.some((m) => m.status === 'loading');
    });
    const waiting = loadModel(server.url, B);
    const expectedQueue = { position: 1, reason: 'model_slot', held_by: [`${A}@main`] };
    await until('B queued', async () => {
      const body = (await (await fetch(`${server.url}/v1/models`)).json()) as {
        data: { id: string; stage?: string; queue?: unknown }[];
      };
      const b = body.data.find((m) => m.id === `${B}@main`);
      return b?.stage === 'queued' && JSON.stringify(b.queue) === JSON.stringify(expectedQueue);
    });
    mirror.setThrottle(0);
    t.match((await slow).events.at(-1), { status: 'ready' }, 'A is ready');
    const whileLoading = await waiting;
    t.match(whileLoading.events[0], {
      status: 'loading',
      stage: 'queued',
      queue: { position: 1, reason: 'model_slot', held_by: [`${A}@main`] },
    });
    t.match(whileLoading.events.at(-1), { status: 'ready', cached: false }, 'B waited its turn, then loaded');
    const isReadyB = (e: FeedEvent) => e.event === 'load' && e.data.status === 'ready' && e.data.model === `${B}@main`;
    await until('B ready on the feed', () => feed.events.slice(mark).some(isReadyB));
    const order = feed.events.slice(mark).flatMap((e) => {
      if (e.event === 'unload') return [`unload ${e.data.model} ${e.data.reason}`];
      if (e.event === 'load' && e.data.status === 'ready') return [`ready ${e.data.model}`];
      return [];
    });
    t.strictSame(
      order,
      [`ready ${A}@main`, `unload ${A}@main evicted`, `ready ${B}@main`],
      'A was ready before it was evicted for B',
    );
  },
);

t.test('--max-models: slots held by models generating replies, a load waits the bound, then MODELS_BUSY', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, maxModels: 1, modelSlotWaitMs: 2000 });
  t.teardown(() => server.close());
  const loadB = loadModel(server.url, 'org/b');
  (await gated.loadStarted('org/b@main')).release();
  t.match((await loadB).events.at(-1), { status: 'ready' });
  const chat = post(server.url, '/v1/chat/completions', {
    model: 'org/b',
    messages: [{ role: 'user', content: 'hi' }],
  });
  const generating = await gated.generationStarted();

  const refused = await loadModel(server.url, 'org/a');
  t.match(refused.events, [
    { status: 'loading', stage: 'queued', queue: { position: 1, reason: 'model_slot', held_by: ['org/b@main'] } },
    { status: 'error', code: 'MODELS_BUSY' },
  ]);
  t.equal(refused.events.length, 2, 'told it waits, then refused');
  t.equal(
    refused.events[1]?.status === 'error' && refused.events[1].message,
    'cannot load org/a@main: the server holds its maximum of 1 model (--max-models) and each was generating ' +
      'replies for the last 2 s: org/b@main (1 reply); unload a model (POST /unload_model), raise --max-models, ' +
      'or retry later',
    "the server's own advice, nothing of a client's keys",
  );
  const chatRefused = await post(server.url, '/v1/chat/completions', {
    model: 'org/a',
    messages: [{ role: 'user', content: 'hi' }],
  });
  t.equal(chatRefused.status, WIRE_ERRORS.MODELS_BUSY.status, 'a chat for another model: 503');
  t.match(await chatRefused.json(), { error: { code: 'MODELS_BUSY', message: /--max-models/ } });

  // A reply that ends within the bound lets the waiting load in.
  const waiting = loadModel(server.url, 'org/a');
  await until('org/a queued', () => server.manager.models().some((m) => m.stage === 'queued'));
  generating.release();
  t.equal((await chat).status, 200);
  (await gated.loadStarted('org/a@main')).release();
  const admitted = await waiting;
  t.match(admitted.events[0], { stage: 'queued' });
  t.match(admitted.events.at(-1), { status: 'ready', cached: false }, 'the idle model was evicted for it');
});
