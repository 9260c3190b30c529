// Shutdown and unloads that do not cut other clients' replies (issue 14, items 8 and 9): closing the server gives
// every open load stream ABORTED and every chat waiting for a model a 503 in OpenAI's shape, lets running replies
// finish within the grace period; /unload_model and /reset wait for replies under way (409 MODEL_BUSY after the wait,
// unless forced). Then the real process: SIGTERM mid-download.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import t from 'tap';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { modeldeckBin } from './helpers/repo.js';
import { untracked } from './helpers/untracked.js';

const chatBody = (model: string, stream = false) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream });

function chat(url: string, model: string, stream = false): Promise<{ status: number; text: string }> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: chatBody(model, stream),
  }).then(async (res) => ({ status: res.status, text: await res.text() }));
}

function post(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then(async (res) => ({ status: res.status, json: await res.json() }));
}

t.test('close mid-load: every load stream gets ABORTED, every waiting chat a 503 ABORTED', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader });
  const streams = [loadModel(server.url, 'org/slow'), loadModel(server.url, 'org/slow')];
  const chats = [chat(server.url, 'org/slow'), chat(server.url, 'org/slow', true)];
  await gated.loadStarted('org/slow@main');
  await until('two subscribers', () => server.manager.subscriberCount() === 2);
  await new Promise((r) => setTimeout(r, 100));
  await server.close();
  for (const [i, seen] of (await Promise.all(streams)).entries()) {
    t.match(seen.events.at(-1), { status: 'error', code: 'ABORTED' }, `stream ${i + 1} ends with ABORTED`);
  }
  for (const [i, answer] of (await Promise.all(chats)).entries()) {
    t.equal(answer.status, 503, `chat ${i + 1}: 503`);
    t.match(JSON.parse(answer.text), {
      error: { code: 'ABORTED', type: 'server_error', message: /aborted|shutting down/, param: null },
    });
  }
  t.strictSame(gated.aborted, ['org/slow@main'], 'the load was aborted');
});

t.test('close during a reply: the reply finishes within the grace period, then the server closes', async (t) => {
  const gated = gatedLoader('all of it');
  const server = await startServer({ loader: gated.loader, shutdownGraceMs: 60_000 });
  const replying = chat(server.url, 'org/m', true);
  (await gated.loadStarted('org/m@main')).release();
  const generation = await gated.generationStarted();
  let closed = false;
  const closing = server.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(closed, 'the server waits for the reply');
  generation.release();
  const answer = await replying;
  await closing;
  t.equal(answer.status, 200);
  t.match(answer.text, /"all"[\s\S]*" of"[\s\S]*" it"[\s\S]*data: \[DONE\]/, 'the whole reply, then [DONE]');
});

t.test('close with a reply that outlasts the grace period still closes', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, shutdownGraceMs: 200 });
  const replying = chat(server.url, 'org/m', true).catch((error: unknown) => error);
  (await gated.loadStarted('org/m@main')).release();
  await gated.generationStarted();
  await server.close();
  t.pass('closed although the reply never finished');
  await replying;
});

t.test('/unload_model during another client’s reply waits for it, then unloads', async (t) => {
  const gated = gatedLoader('the reply');
  const server = await startServer({ loader: gated.loader });
  t.teardown(() => server.close());
  const replying = chat(server.url, 'org/m');
  (await gated.loadStarted('org/m@main')).release();
  const generation = await gated.generationStarted();
  let unloaded = false;
  const unloading = post(`${server.url}/unload_model`, { model: 'org/m' }).then((r) => ((unloaded = true), r));
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(unloaded, 'the unload waits');
  generation.release();
  const answer = await replying;
  t.equal(answer.status, 200, 'the reply was not cut');
  t.match(JSON.parse(answer.text), { choices: [{ message: { content: 'the reply' } }] });
  t.match(await unloading, { status: 200, json: { status: 'unloaded', model: 'org/m@main' } });
});

t.test('/unload_model and /reset answer 409 MODEL_BUSY after the wait, and force unloads at once', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, unloadWaitMs: 200 });
  t.teardown(() => server.close());
  const replying = chat(server.url, 'org/m');
  (await gated.loadStarted('org/m@main')).release();
  const generation = await gated.generationStarted();
  for (const [route, body] of [
    ['/unload_model', { model: 'org/m' }],
    ['/reset', {}],
  ] as const) {
    const refused = await post(`${server.url}${route}`, body);
    t.equal(refused.status, 409, `${route}: 409`);
    t.match(refused.json, { error: { code: 'MODEL_BUSY', message: /1 reply under way after 0\.2 s.*"force": true/ } });
  }
  t.match(await post(`${server.url}/unload_model`, { model: 'org/m', force: 'yes' }), {
    status: 400,
    json: { error: { param: 'force' } },
  });
  t.match(await post(`${server.url}/unload_model`, { model: 'org/m', force: true }), {
    status: 200,
    json: { status: 'unloaded' },
  });
  generation.release();
  await replying;
});

t.test('modeldeck serve: SIGTERM mid-download gives every subscriber ABORTED and a waiting chat 503', async (t) => {
  const mirror = await startTestMirror(await demoModelsDir(), { throttle: 200_000 });
  t.teardown(() => mirror.close());
  const bin = modeldeckBin;
  const child = spawn(
    ...untracked(process.execPath, [
      bin,
      'serve',
      '--port',
      '0',
      '--hub-url',
      mirror.url,
      '--cache-dir',
      t.testdir(),
      '--log-level',
      'silent',
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const found = /listening on (http:\/\/\S+)/.exec(line);
      if (found?.[1]) resolve(found[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${String(code)} before listening`)));
  });
  const downloading: boolean[] = [false, false];
  const streams = [0, 1].map((i) =>
    loadModel(url, 'modeldeck/tiny-chat', {
      onEvent: (event) => {
        if (event.status === 'loading' && event.stage === 'download') downloading[i] = true;
      },
    }),
  );
  await until('both streams in the download stage', () => downloading.every(Boolean));
  const waitingChat = chat(url, 'modeldeck/tiny-chat');
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGTERM');
  for (const [i, seen] of (await Promise.all(streams)).entries()) {
    t.match(seen.events.at(-1), { status: 'error', code: 'ABORTED' }, `subscriber ${i + 1}: ABORTED`);
  }
  const answer = await waitingChat;
  t.equal(answer.status, 503, 'the waiting chat: 503');
  t.match(JSON.parse(answer.text), { error: { code: 'ABORTED', type: 'server_error' } });
  t.equal(await exited, 0, 'serve exits 0');
});
