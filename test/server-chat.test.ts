import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
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
  t.ok(chunks.slice(1, -1).every((c) => c.choices[0]?.finish_reason === null), 'only the last chunk finishes');
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
      max_tokens: 4096,
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
    { name: 'bad model id', body: { model: '../x', messages: [{ role: 'user', content: 'x' }] }, status: 400, code: 'invalid_model' },
    { name: 'temperature too high', body: { model: MODEL, temperature: 3, messages: [{ role: 'user', content: 'x' }] }, status: 400, param: 'temperature' },
    { name: 'top_p zero', body: { model: MODEL, top_p: 0, messages: [{ role: 'user', content: 'x' }] }, status: 400, param: 'top_p' },
    { name: 'max_tokens negative', body: { model: MODEL, max_tokens: -1, messages: [{ role: 'user', content: 'x' }] }, status: 400, param: 'max_tokens' },
    { name: 'max_tokens a string', body: { model: MODEL, max_tokens: '5', messages: [{ role: 'user', content: 'x' }] }, status: 400, param: 'max_tokens' },
    { name: 'stream not boolean', body: { model: MODEL, stream: 'yes', messages: [{ role: 'user', content: 'x' }] }, status: 400, param: 'stream' },
    { name: 'seed a float', body: { model: MODEL, seed: 1.5, messages: [{ role: 'user', content: 'x' }] }, status: 400, param: 'seed' },
    { name: 'too many stops', body: { model: MODEL, stop: ['a', 'b', 'c', 'd', 'e'], messages: [{ role: 'user', content: 'x' }] }, status: 400, param: 'stop' },
    { name: 'unknown model', body: { model: 'acme/nothing-here', messages: [{ role: 'user', content: 'x' }] }, status: 404, code: 'model_not_found' },
  ];
  for (const c of cases) {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(c.body),
    });
    t.equal(res.status, c.status, `${c.name}: status`);
    const body = (await res.json()) as { error?: { message?: string; type?: string; param?: string | null; code?: string | null } };
    t.type(body.error?.message, 'string', `${c.name}: a message`);
    t.equal(body.error?.type, 'invalid_request_error', `${c.name}: type`);
    if (c.param) t.equal(body.error?.param, c.param, `${c.name}: param`);
    if (c.code) t.equal(body.error?.code, c.code, `${c.name}: code`);
  }
  const viaClient = await client.chat.completions
    .create({ model: MODEL, messages: [] })
    .then(() => null, (e: unknown) => e);
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
  t.same(await reset.json(), { status: 'ok', unloaded: [KEY] });
});

t.test('the idle timeout unloads a model; the next load comes from the disk cache', async (t) => {
  const idle = await startTestServer({ hubUrl: mirror.url, idleTimeoutMs: 300 });
  t.teardown(() => idle.close());
  const first = await loadModel(idle.url, MODEL);
  t.equal(first.events.at(-1)?.status, 'ready');
  while (idle.manager.residentRefs().length > 0) await new Promise((r) => setTimeout(r, 50));
  const again = await loadModel(idle.url, MODEL);
  t.same(stagesOf(again.events), ['processor', 'config', 'weights', 'ready'], 'a fresh load, without download');
  t.same(again.events.at(-1), { status: 'ready', model: KEY, cached: false });
});

t.test('an API key guards every route but /health', async (t) => {
  const guarded = await startTestServer({ hubUrl: mirror.url, cacheDir: server.cacheDir, apiKey: 'sk-test-123' });
  t.teardown(() => guarded.close());
  t.equal((await fetch(`${guarded.url}/health`)).status, 200, '/health stays open');
  const none = await fetch(`${guarded.url}/v1/models`);
  t.equal(none.status, 401);
  t.match(((await none.json()) as { error: { message: string } }).error.message, /Authorization: Bearer/);
  const wrong = await loadModel(guarded.url, MODEL, { headers: { authorization: 'Bearer nope' } });
  t.equal(wrong.status, 401, 'a wrong key is refused before any event');
  t.match(wrong.body, /not valid/);
  const right = await loadModel(guarded.url, MODEL, { headers: { authorization: 'Bearer sk-test-123' } });
  t.equal(right.events.at(-1)?.status, 'ready');
  const keyed = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'sk-test-123', maxRetries: 0 });
  const reply = await keyed.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 4 });
  t.ok(reply.choices[0]?.message.content !== undefined, 'the openai client with the key chats');
  const unkeyed = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
  const denied = await unkeyed.models.list().then(() => null, (e: unknown) => e);
  t.ok(denied instanceof OpenAI.AuthenticationError, 'and without it gets AuthenticationError');
});
