import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { KeyError } from '../src/common/auth.js';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { startServer } from '../src/server/start.js';
import type { GenerateResult } from '../src/server/loader-types.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel, stagesOf } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;

const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-mirror-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
const mirror = await startTestMirror(root);
const server = await startTestServer({ hubUrl: mirror.url });
t.teardown(async () => {
  await server.close();
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });

/** The demo corpus is English prose: a reply is word-like when most of its tokens are lower-case words. */
function assertWordLike(t: Test, text: string): void {
  const words = text.split(/\s+/).filter(Boolean);
  t.ok(words.length >= 2, `several words: ${JSON.stringify(text)}`);
  const wordy = words.filter((w) => /^[A-Za-z][a-z'-]*[.,;:!?]?$/.test(w));
  t.ok(wordy.length / words.length >= 0.8, `mostly words: ${JSON.stringify(text)}`);
}

t.test('the openai client streams a chat completion', async (t) => {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Tell me about the river.' },
    ],
    stream: true,
    seed: 7,
    max_tokens: 64,
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  t.ok(chunks.length >= 3, `several chunks (${chunks.length})`);
  t.equal(chunks[0]?.choices[0]?.delta.role, 'assistant', 'the first chunk names the role');
  const last = chunks.at(-1)!;
  t.match(last.choices[0]?.finish_reason, /^(stop|length)$/, 'the last chunk has a finish reason');
  t.ok(last.usage && last.usage.completion_tokens > 0 && last.usage.prompt_tokens > 0, 'and usage');
  t.equal(last.usage?.total_tokens, (last.usage?.prompt_tokens ?? 0) + (last.usage?.completion_tokens ?? 0));
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assertWordLike(t, text);
  t.ok(
    chunks.slice(1, -1).every((c) => c.choices[0]?.finish_reason === null),
    'only the last chunk finishes',
  );
  t.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id for the whole stream');
});

t.test('the same without streaming; the same seed gives the same reply', async (t) => {
  const ask = () =>
    client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'What grows in the garden?' }],
      seed: 11,
      max_tokens: 64,
      temperature: 0.8,
    });
  const a = await ask();
  t.equal(a.object, 'chat.completion');
  t.equal(a.model, KEY);
  t.equal(a.choices[0]?.message.role, 'assistant');
  assertWordLike(t, a.choices[0]?.message.content ?? '');
  t.ok(a.usage && a.usage.completion_tokens > 0);
  const b = await ask();
  t.equal(b.choices[0]?.message.content, a.choices[0]?.message.content, 'seeded sampling is reproducible');
  const c = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Hi' }],
    max_tokens: 3,
    temperature: 0,
  });
  t.equal(c.choices[0]?.finish_reason, 'length', 'max_tokens ends with finish_reason length');
  t.equal(c.usage?.completion_tokens, 3);
});

t.test('a client that disconnects mid-stream stops its generation', async (t) => {
  const model = await server.manager.acquire({ id: MODEL, revision: 'main', key: KEY });
  const results: GenerateResult[] = [];
  const original = model.generate.bind(model);
  (model as { generate: typeof model.generate }).generate = async (...args) => {
    const result = await original(...args);
    results.push(result);
    return result;
  };
  t.teardown(() => {
    (model as { generate: typeof model.generate }).generate = original;
  });
  // Greedy decoding loops on a bigram model, so without the disconnect this would run to 4,096 tokens.
  const greedy = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Go on.' }],
    temperature: 0,
    max_tokens: 300,
  });
  t.equal(greedy.choices[0]?.finish_reason, 'length', 'greedy decoding does not stop by itself');
  results.length = 0;
  const controller = new AbortController();
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      stream: true,
      temperature: 0,
      max_tokens: 4000, // with the prompt, within the model's context of 4096
      messages: [{ role: 'user', content: 'Go on.' }],
    }),
    signal: controller.signal,
  });
  let received = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      received += chunk.length;
      if (received > 2000) controller.abort();
    }
  } catch (error) {
    t.equal((error as Error).name, 'AbortError');
  }
  while (results.length === 0) await new Promise((r) => setTimeout(r, 20));
  t.ok(results[0]!.completionTokens < 4096, `generation stopped at ${results[0]!.completionTokens} tokens`);
  const after = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Still there?' }],
    max_tokens: 8,
  });
  t.ok(after.choices[0]?.message.content, 'the model answers the next request');
});

t.test('eight concurrent chats all complete', async (t) => {
  const replies = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: `Question ${i}` }],
        seed: i,
        max_tokens: 32,
        stream: i % 2 === 0,
      }),
    ),
  );
  for (const [i, reply] of replies.entries()) {
    if ('choices' in reply) {
      t.ok(reply.choices[0]?.message.content, `chat ${i} answered`);
    } else {
      let text = '';
      for await (const chunk of reply) text += chunk.choices[0]?.delta.content ?? '';
      t.ok(text.length > 0, `streamed chat ${i} answered`);
    }
  }
});

t.test('bad requests get OpenAI-shaped errors', async (t) => {
  const cases: { name: string; body: unknown; status: number; param?: string; code?: string }[] = [
    { name: 'no messages', body: { model: MODEL, messages: [] }, status: 400, param: 'messages' },
    { name: 'messages not an array', body: { model: MODEL, messages: 'hi' }, status: 400, param: 'messages' },
    { name: 'unknown role', body: { model: MODEL, messages: [{ role: 'wizard', content: 'x' }] }, status: 400 },
    { name: 'content a number', body: { model: MODEL, messages: [{ role: 'user', content: 5 }] }, status: 400 },
    { name: 'no model', body: { messages: [{ role: 'user', content: 'x' }] }, status: 400, param: 'model' },
    {
      name: 'bad model id',
      body: { model: '../x', messages: [{ role: 'user', content: 'x' }] },
      status: 400,
      code: 'INVALID_MODEL',
    },
    {
      name: 'temperature too high',
      body: { model: MODEL, temperature: 3, messages: [{ role: 'user', content: 'x' }] },
      status: 400,
      param: 'temperature',
    },
    {
      name: 'top_p zero',
      body: { model: MODEL, top_p: 0, messages: [{ role: 'user', content: 'x' }] },
      status: 400,
      param: 'top_p',
    },
    {
      name: 'max_tokens negative',
      body: { model: MODEL, max_tokens: -1, messages: [{ role: 'user', content: 'x' }] },
      status: 400,
      param: 'max_tokens',
    },
    {
      name: 'max_tokens a string',
      body: { model: MODEL, max_tokens: '5', messages: [{ role: 'user', content: 'x' }] },
      status: 400,
      param: 'max_tokens',
    },
    {
      name: 'stream not boolean',
      body: { model: MODEL, stream: 'yes', messages: [{ role: 'user', content: 'x' }] },
      status: 400,
      param: 'stream',
    },
    {
      name: 'seed a float',
      body: { model: MODEL, seed: 1.5, messages: [{ role: 'user', content: 'x' }] },
      status: 400,
      param: 'seed',
    },
    {
      name: 'too many stops',
      body: { model: MODEL, stop: ['a', 'b', 'c', 'd', 'e'], messages: [{ role: 'user', content: 'x' }] },
      status: 400,
      param: 'stop',
    },
    {
      name: 'unknown model',
      body: { model: 'acme/nothing-here', messages: [{ role: 'user', content: 'x' }] },
      status: 404,
      code: 'MODEL_NOT_FOUND',
    },
  ];
  for (const c of cases) {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(c.body),
    });
    t.equal(res.status, c.status, `${c.name}: status`);
    const body = (await res.json()) as {
      error?: { message?: string; type?: string; param?: string | null; code?: string | null };
    };
    t.type(body.error?.message, 'string', `${c.name}: a message`);
    t.equal(body.error?.type, 'invalid_request_error', `${c.name}: type`);
    if (c.param) t.equal(body.error?.param, c.param, `${c.name}: param`);
    if (c.code) t.equal(body.error?.code, c.code, `${c.name}: code`);
  }
  const viaClient = await client.chat.completions.create({ model: MODEL, messages: [] }).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(viaClient instanceof OpenAI.BadRequestError, 'the openai client raises BadRequestError');
});

t.test('models: list, unload one, reset', async (t) => {
  await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 2 });
  const list = await client.models.list();
  const entry = list.data.find((m) => m.id === KEY) as unknown as { status: string } | undefined;
  t.equal(entry?.status, 'loaded', 'the model is listed as loaded');
  const unload = await fetch(`${server.url}/unload_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL }),
  });
  t.same(await unload.json(), { status: 'unloaded', model: KEY });
  const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string; status: string }[] };
  t.same(listed.data.find((m) => m.id === KEY)?.status, 'cached', 'now only on disk');
  const twice = await fetch(`${server.url}/unload_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL }),
  });
  t.equal(twice.status, 404, 'unloading a model that is not loaded is a 404');
  const reload = await loadModel(server.url, MODEL);
  t.same(stagesOf(reload.events), ['processor', 'config', 'weights', 'ready'], 'loads again, from the disk cache');
  const reset = await fetch(`${server.url}/reset`, { method: 'POST' });
  t.same(await reset.json(), { status: 'ok', unloaded: [KEY], cancelled: [] });
});

t.test('the idle timeout unloads a model; the next load comes from the disk cache', async (t) => {
  const idle = await startTestServer({ hubUrl: mirror.url, idleTimeoutMs: 300 });
  t.teardown(() => idle.close());
  const first = await loadModel(idle.url, MODEL);
  t.equal(first.events.at(-1)?.status, 'ready');
  while (idle.manager.residentRefs().length > 0) await new Promise((r) => setTimeout(r, 50));
  const again = await loadModel(idle.url, MODEL);
  t.same(stagesOf(again.events), ['processor', 'config', 'weights', 'ready'], 'a fresh load, without download');
  t.match(again.events.at(-1), { status: 'ready', model: KEY, cached: false, size_bytes: Number });
});

t.test('an API key guards every route but GET /health', async (t) => {
  const API_KEY = 'sk-test-123';
  const guarded = await startTestServer({ hubUrl: mirror.url, cacheDir: server.cacheDir, apiKey: API_KEY });
  t.teardown(() => guarded.close());

  interface Route {
    readonly method: string;
    readonly path: string;
    readonly body?: string;
  }
  const json = (value: unknown): string => JSON.stringify(value);
  const routes: Route[] = [
    { method: 'POST', path: '/load_model', body: json({ model: MODEL }) },
    {
      method: 'POST',
      path: '/v1/chat/completions',
      body: json({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }),
    },
    { method: 'GET', path: '/v1/models' },
    { method: 'POST', path: '/unload_model', body: json({ model: MODEL }) },
    { method: 'POST', path: '/reset' },
    { method: 'GET', path: '/nope' },
    { method: 'POST', path: '/nope', body: '{}' },
    // A real path with the wrong method, and /health with a method other than GET, are guarded like any other.
    { method: 'GET', path: '/load_model' },
    { method: 'POST', path: '/health', body: '{}' },
    // The key is checked before the body is: an unauthenticated client learns nothing about its input.
    { method: 'POST', path: '/load_model', body: '{"model": ' },
  ];
  const call = (route: Route, authorization?: string) =>
    fetch(`${guarded.url}${route.path}`, {
      method: route.method,
      headers: {
        ...(route.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(authorization !== undefined ? { authorization } : {}),
      },
      ...(route.body !== undefined ? { body: route.body } : {}),
    });
  const refusals: { name: string; authorization?: string; code: string; says: RegExp }[] = [
    { name: 'no key', code: 'MISSING_API_KEY', says: /Authorization: Bearer/ },
    { name: 'a wrong key', authorization: 'Bearer nope', code: 'INVALID_API_KEY', says: /not valid/ },
    {
      name: 'a key one character off',
      authorization: `Bearer ${API_KEY.slice(0, -1)}4`,
      code: 'INVALID_API_KEY',
      says: /not valid/,
    },
    {
      name: 'a prefix of the key',
      authorization: `Bearer ${API_KEY.slice(0, -1)}`,
      code: 'INVALID_API_KEY',
      says: /not valid/,
    },
    {
      name: 'the key without the Bearer scheme',
      authorization: API_KEY,
      code: 'MISSING_API_KEY',
      says: /Authorization: Bearer/,
    },
    {
      name: 'the key as Basic credentials',
      authorization: `Basic ${API_KEY}`,
      code: 'MISSING_API_KEY',
      says: /Authorization: Bearer/,
    },
  ];
  for (const route of routes) {
    for (const refusal of refusals) {
      const what = `${route.method} ${route.path}${route.body === '{"model": ' ? ' (malformed body)' : ''} with ${refusal.name}`;
      const res = await call(route, refusal.authorization);
      t.equal(res.status, 401, `${what}: 401`);
      t.match(res.headers.get('content-type'), /^application\/json/, `${what}: a JSON body`);
      const body = (await res.json()) as { error?: { message?: unknown; type?: unknown; code?: unknown } };
      t.type(body.error?.message, 'string', `${what}: with a message`);
      t.match(String(body.error?.message), refusal.says, `${what}: that says what to do`);
      t.equal(body.error?.type, 'authentication_error', `${what}: type`);
      t.equal(body.error?.code, refusal.code, `${what}: code`);
    }
  }
  t.same(guarded.manager.loadingRefs(), [], 'no refused request started a load');
  t.same(guarded.manager.residentRefs(), [], 'or loaded a model');

  // /health is open, with or without a key, right or wrong.
  for (const authorization of [undefined, 'Bearer nope', `Bearer ${API_KEY}`]) {
    const res = await call({ method: 'GET', path: '/health' }, authorization);
    t.equal(res.status, 200, `GET /health with ${authorization ?? 'no key'}: 200`);
    t.same(await res.json(), { status: 'ok' });
  }

  // The right key opens every route.
  const bearer = `Bearer ${API_KEY}`;
  const loaded = await loadModel(guarded.url, MODEL, { headers: { authorization: bearer } });
  t.match(loaded.events.at(-1), { status: 'ready', model: KEY, cached: false }, 'POST /load_model with the key loads');
  const keyed = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: API_KEY, maxRetries: 0 });
  const reply = await keyed.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'x' }],
    max_tokens: 4,
  });
  t.equal(reply.object, 'chat.completion', 'POST /v1/chat/completions with the key chats (openai client)');
  const listed = await call({ method: 'GET', path: '/v1/models' }, 'bearer ' + API_KEY);
  t.equal(listed.status, 200, 'GET /v1/models with the key (the scheme is case-insensitive)');
  const list = (await listed.json()) as { data: { id: string; status: string }[] };
  t.equal(list.data.find((m) => m.id === KEY)?.status, 'loaded', 'and lists the model as loaded');
  const unloaded = await call({ method: 'POST', path: '/unload_model', body: json({ model: MODEL }) }, bearer);
  t.equal(unloaded.status, 200, 'POST /unload_model with the key');
  t.same(await unloaded.json(), { status: 'unloaded', model: KEY });
  const reset = await call({ method: 'POST', path: '/reset' }, bearer);
  t.equal(reset.status, 200, 'POST /reset with the key');
  t.same(await reset.json(), { status: 'ok', unloaded: [], cancelled: [] });
  const unknown = await call({ method: 'GET', path: '/nope' }, bearer);
  t.equal(unknown.status, 404, 'an unknown route with the key gets past the guard, to a 404');

  const unkeyed = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
  const denied = await unkeyed.models.list().then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(denied instanceof OpenAI.AuthenticationError, 'the openai client with a wrong key gets AuthenticationError');
});

t.test('serve takes the API key from MODELDECK_API_KEY when --api-key is not given', async (t) => {
  // A home without a token file, so that nothing on this machine leaks into the resolved config.
  const HF_HOME = join(root, 'no-hf-home');
  const resolve = (argv: string[], env: NodeJS.ProcessEnv) => resolveServeConfig(argv, { HF_HOME, ...env });
  t.equal(resolve([], { MODELDECK_API_KEY: 'env-key' })?.apiKey, 'env-key', 'from the environment');
  t.equal(resolve(['--api-key', 'flag-key'], { MODELDECK_API_KEY: 'env-key' })?.apiKey, 'flag-key', 'the flag wins');
  t.equal(resolve([], {})?.apiKey, undefined, 'neither: no key');
  t.equal(resolve([], { MODELDECK_API_KEY: '' })?.apiKey, undefined, 'an empty variable is no key');
  t.throws(
    () => resolve([], { MODELDECK_API_KEY: 'has space' }),
    KeyError,
    'a key that cannot travel in a header is refused',
  );

  // And the key so resolved guards the server `serve` starts.
  const config = resolve(
    ['--port', '0', '--hub-url', mirror.url, '--cache-dir', server.cacheDir, '--log-level', 'silent'],
    {
      MODELDECK_API_KEY: 'env-key',
    },
  );
  if (!config) throw new Error('no config');
  const running = await startServer({ ...serverOptions(config), logger: false });
  t.teardown(() => running.close());
  t.equal((await fetch(`${running.url}/health`)).status, 200, '/health stays open');
  t.equal((await fetch(`${running.url}/v1/models`)).status, 401, 'no key: 401');
  const wrong = await fetch(`${running.url}/v1/models`, { headers: { authorization: 'Bearer wrong' } });
  t.equal(wrong.status, 401, 'a wrong key: 401');
  const right = await fetch(`${running.url}/v1/models`, { headers: { authorization: 'Bearer env-key' } });
  t.equal(right.status, 200, 'the key from the environment: 200');
  t.equal(((await right.json()) as { object?: string }).object, 'list');
});
