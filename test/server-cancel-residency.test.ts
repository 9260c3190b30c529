import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { WIRE_ERRORS } from '../src/protocol/errors.js';
import { startServer } from '../src/server/start.js';
import { modelWorkerCount } from '../src/server/worker-client.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { loadModel } from './helpers/sse-client.js';
import { fileDownloads, startTestMirror, startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';

const A = 'modeldeck/tiny-chat';
const B = 'modeldeck/tiny-chat-b';
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-residency-root-'));
await cp(join(models, A), join(root, A), { recursive: true });
await cp(join(models, A), join(root, B), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

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

t.test(
  '--max-models: the least recently used idle model is evicted; a busy set refuses with MODELS_BUSY',
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

    // B is busy while its generations run (three queued long ones); a load of A now has nowhere to go.
    const chats = [1, 2, 3].map(() =>
      post(server.url, '/v1/chat/completions', {
        model: B,
        max_tokens: 4000, // with the prompt, within the model's context of 4096
        temperature: 1,
        messages: [{ role: 'user', content: 'Tell a long story.' }],
      }),
    );
    await feed.waitFor('a chat started', (e) => e.event === 'chat_start');
    const refused = await loadModel(server.url, A);
    t.equal(refused.events.length, 1, 'refused at once');
    t.match(refused.events[0], {
      status: 'error',
      code: 'MODELS_BUSY',
      message: new RegExp(`${B}@main \\(generating \\d\\)`),
    });
    const chatRefused = await post(server.url, '/v1/chat/completions', {
      model: A,
      messages: [{ role: 'user', content: 'hi' }],
    });
    t.equal(chatRefused.status, WIRE_ERRORS.MODELS_BUSY.status);
    t.match(await chatRefused.json(), { error: { code: 'MODELS_BUSY', message: /--max-models/ } });
    await Promise.all((await Promise.all(chats)).map((res) => res.json()));

    // A load under way is busy too.
    await post(server.url, '/unload_model', { model: B });
    mirror.setThrottle(100_000);
    const slow = loadModel(server.url, A);
    await until('A loading', async () => {
      const body = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { status: string }[] };
      return body.data.some((m) => m.status === 'loading');
    });
    const whileLoading = await loadModel(server.url, B);
    t.match(whileLoading.events, [
      { status: 'error', code: 'MODELS_BUSY', message: new RegExp(`${A}@main \\(loading\\)`) },
    ]);
    mirror.setThrottle(0);
    t.match((await slow).events.at(-1), { status: 'ready' });
  },
);
