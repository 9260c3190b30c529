// keep_alive on /load_model and the chat routes (issue 24), through a real server: "10m" moves the model's
// expires_at ten minutes out; 1 on a chat unloads the model a second after its reply, with reason keep_alive; -1
// keeps it; 0 on /load_model unloads a resident model and loads nothing; a bad value is a 400 naming the field.
import t from 'tap';
import type { FeedModel } from '../src/protocol/feed.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;
const mirror = await startTestMirror(await demoModelsDir());
const server = await startTestServer({ hubUrl: mirror.url, idleTimeoutMs: 300_000 });
t.teardown(async () => {
  await server.close();
  await mirror.close();
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function load(keepAlive: unknown): Promise<string> {
  return (await post('/load_model', { model: MODEL, keep_alive: keepAlive })).text();
}

async function entry(): Promise<(FeedModel & { status: string }) | undefined> {
  const list = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: (FeedModel & { id: string })[] };
  return list.data.find((m) => m.id === KEY) as (FeedModel & { status: string }) | undefined;
}

t.test('"10m" on a load: expires ten minutes out, past the server’s five', async (t) => {
  t.match(await load('10m'), /"status": "ready"/);
  const listed = await entry();
  t.equal(listed?.status, 'loaded');
  t.ok((listed?.expires_in_ms ?? 0) > 590_000 && (listed?.expires_in_ms ?? 0) <= 600_000, `${listed?.expires_in_ms}`);
});

t.test('-1 on a load: no unload scheduled', async (t) => {
  await load(-1);
  t.match(await entry(), { status: 'loaded', expires_at: null, expires_in_ms: null });
  t.equal((await post('/unload_model', { model: MODEL })).status, 200, 'an unload by request still unloads');
});

t.test('1 on a chat: unloaded a second after its reply, reason keep_alive', async (t) => {
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  const chat = await post('/v1/chat/completions', {
    model: MODEL,
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 4,
    keep_alive: 1,
  });
  t.equal(chat.status, 200);
  const end = await feed.waitFor('chat_end', (e) => e.event === 'chat_end');
  const expiry = await feed.waitFor(
    'the expiry after the reply',
    (e) => e.event === 'expiry' && feed.events.indexOf(e) > feed.events.indexOf(end) && e.data.expires_at !== null,
  );
  t.ok(expiry.event === 'expiry' && (expiry.data.expires_in_ms ?? Infinity) <= 1000, 'told: within a second');
  const unload = await feed.waitFor('the unload', (e) => e.event === 'unload', 10_000);
  t.match(unload.data, { model: KEY, reason: 'keep_alive' });
  const at = expiry.event === 'expiry' ? Date.parse(expiry.data.expires_at ?? '') : 0;
  t.ok(Date.now() >= at - 50, 'not before the expiry it told');
  t.equal((await entry())?.status, 'cached', 'only on disk now, as /v1/models says');
});

t.test('0 on /load_model: unloads a resident model (Ollama’s "unload it"), loads nothing', async (t) => {
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  t.match(await load(60), /"status": "ready"/);
  t.equal((await entry())?.status, 'loaded');
  for (const zero of [0, '0s', '0']) {
    const res = await post('/load_model', { model: MODEL, keep_alive: zero });
    t.equal(res.status, 200, JSON.stringify(zero));
    t.match(res.headers.get('content-type'), /^application\/json/, 'an answer, not an event stream');
    const expected = zero === 0 ? 'unloaded' : 'not_loaded';
    t.strictSame(await res.json(), { status: expected, model: KEY }, `${JSON.stringify(zero)}: ${expected}`);
  }
  const unload = await feed.waitFor('the unload', (e) => e.event === 'unload');
  t.match(unload.data, { model: KEY, reason: 'keep_alive' });
  t.equal(feed.events.filter((e) => e.event === 'unload').length, 1, 'one unload, for the resident model');
  t.equal((await entry())?.status, 'cached', 'on disk only');
  t.notOk(
    feed.events.some((e) => e.event === 'load' && feed.events.indexOf(e) > feed.events.indexOf(unload)),
    'nothing was loaded by the requests that found it gone',
  );
});

t.test('a bad keep_alive is a 400 naming the field, before anything loads', async (t) => {
  for (const [path, body] of [
    ['/load_model', { model: MODEL, keep_alive: '5 minutes' }],
    ['/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], keep_alive: true }],
    ['/v1/completions', { model: MODEL, prompt: 'x', keep_alive: '1d' }],
  ] as const) {
    const res = await post(path, body);
    t.equal(res.status, 400, path);
    t.match(await res.json(), {
      error: { code: 'INVALID_REQUEST', param: 'keep_alive', message: /"keep_alive" must be/ },
    });
  }
  t.equal((await entry())?.status, 'cached', 'nothing loaded');
});
