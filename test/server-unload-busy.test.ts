import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

// Another client's /unload_model or /reset never cuts a reply short unless it says force.
const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-unload-busy-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
const mirror = await startTestMirror(root);
const server = await startTestServer({ hubUrl: mirror.url });
t.teardown(async () => {
  await server.close();
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

function post(path: string, body?: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
}

/** Three long streamed chats, queued on the one model: it is busy until the last ends. */
function longChats(): Promise<string>[] {
  return [1, 2, 3].map(async () => {
    const res = await post('/v1/chat/completions', {
      model: MODEL,
      stream: true,
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Tell a long story.' }],
    });
    return res.text();
  });
}

t.test('an unload or reset during generations is refused with MODEL_IN_USE; the replies finish', async (t) => {
  t.match((await loadModel(server.url, MODEL)).events.at(-1), { status: 'ready' });
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  await feed.waitFor('the snapshot', (e) => e.event === 'snapshot');
  const chats = longChats();
  await feed.waitFor('a chat started', (e) => e.event === 'chat_start');

  const unload = await post('/unload_model', { model: MODEL });
  t.equal(unload.status, 409);
  t.match(await unload.json(), {
    error: { code: 'MODEL_IN_USE', message: new RegExp(`${KEY} \\(\\d chat requests?\\).*"force": true`) },
  });
  const reset = await post('/reset');
  t.equal(reset.status, 409);
  t.match(await reset.json(), { error: { code: 'MODEL_IN_USE' } });
  const bad = await post('/reset', { force: 'yes' });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { code: 'INVALID_REQUEST', param: 'force' } });

  for (const body of await Promise.all(chats)) {
    t.match(body, /data: \[DONE\]\n\n$/, 'each reply ends normally');
    t.notMatch(body, /"error"/, 'with no error');
  }
  t.notOk(
    feed.events.some((e) => e.event === 'unload'),
    'nothing was unloaded',
  );
  const idle = await post('/unload_model', { model: MODEL });
  t.equal(idle.status, 200, 'once idle it unloads');
});

t.test('force unloads at once, cutting the replies short', async (t) => {
  t.match((await loadModel(server.url, MODEL)).events.at(-1), { status: 'ready' });
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  await feed.waitFor('the snapshot', (e) => e.event === 'snapshot');
  const chats = longChats();
  await feed.waitFor('a chat started', (e) => e.event === 'chat_start');
  const forced = await post('/unload_model', { model: MODEL, force: true });
  t.equal(forced.status, 200);
  t.strictSame(await forced.json(), { status: 'unloaded', model: KEY });
  t.match(await feed.waitFor('the unload', (e) => e.event === 'unload'), { data: { model: KEY, reason: 'request' } });
  await Promise.all(chats);
});
