import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { WIRE_ERRORS } from '../src/protocol/errors.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

// The routes build their errors from the catalogue: every error answer's code is in it, with its status, and one
// problem has one spelling on /load_model and on the chat route. The mirror is real and serves no models at all.
const root = await mkdtemp(join(tmpdir(), 'modeldeck-empty-mirror-'));
const mirror = await startTestMirror(root);
const server = await startTestServer({ hubUrl: mirror.url });
const guarded = await startTestServer({ hubUrl: mirror.url, apiKey: 'sk-right' });
t.teardown(async () => {
  await server.close();
  await guarded.close();
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function post(url: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, body: (await res.json()) as ErrorBody };
}

const chat = (model: string): string => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });

t.test('a bad model id gets INVALID_MODEL on /load_model and on the chat route', async (t) => {
  const load = await post(`${server.url}/load_model`, JSON.stringify({ model: '../etc/passwd' }));
  const completion = await post(`${server.url}/v1/chat/completions`, chat('../etc/passwd'));
  t.equal(load.status, 400);
  t.equal(completion.status, 400);
  t.equal(load.body.error.code, 'INVALID_MODEL');
  t.equal(completion.body.error.code, 'INVALID_MODEL');
});

t.test('an unknown model gets MODEL_NOT_FOUND in the load event and in the chat answer', async (t) => {
  const load = await loadModel(server.url, 'acme/nothing-here');
  const last = load.events.at(-1);
  t.match(last, { status: 'error', code: 'MODEL_NOT_FOUND' });
  const completion = await post(`${server.url}/v1/chat/completions`, chat('acme/nothing-here'));
  t.equal(completion.status, WIRE_ERRORS.MODEL_NOT_FOUND.status);
  t.equal(completion.body.error.code, 'MODEL_NOT_FOUND');
  const message = last?.status === 'error' ? last.message : '';
  t.equal(completion.body.error.message, message, 'and the same message');
});

t.test('every error answer carries a catalogue code with the catalogue status', async (t) => {
  const cases: { name: string; expect: keyof typeof WIRE_ERRORS; run: () => Promise<Response> }[] = [
    { name: 'no route', expect: 'NOT_FOUND', run: () => fetch(`${server.url}/nope`) },
    {
      name: 'malformed JSON',
      expect: 'INVALID_JSON',
      run: () => fetch(`${server.url}/load_model`, jsonPost('{"model": ')),
    },
    { name: 'empty body', expect: 'INVALID_BODY', run: () => fetch(`${server.url}/load_model`, jsonPost('')) },
    { name: 'array body', expect: 'INVALID_BODY', run: () => fetch(`${server.url}/load_model`, jsonPost('[]')) },
    { name: 'no model', expect: 'MISSING_MODEL', run: () => fetch(`${server.url}/load_model`, jsonPost('{}')) },
    {
      name: 'model a number',
      expect: 'INVALID_MODEL_TYPE',
      run: () => fetch(`${server.url}/load_model`, jsonPost('{"model": 7}')),
    },
    {
      name: 'chat field',
      expect: 'INVALID_REQUEST',
      run: () => fetch(`${server.url}/v1/chat/completions`, jsonPost('{"model": "a/b", "messages": []}')),
    },
    {
      name: 'text/plain',
      expect: 'UNSUPPORTED_MEDIA_TYPE',
      run: () =>
        fetch(`${server.url}/load_model`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: '{"model": "a/b"}',
        }),
    },
    {
      name: 'too large',
      expect: 'BODY_TOO_LARGE',
      run: () =>
        fetch(`${server.url}/load_model`, jsonPost(JSON.stringify({ model: 'a/b', pad: 'x'.repeat(2 ** 21) }))),
    },
    {
      name: 'unload a model that is not loaded',
      expect: 'MODEL_NOT_LOADED',
      run: () => fetch(`${server.url}/unload_model`, jsonPost('{"model": "a/b"}')),
    },
    {
      name: 'no API key',
      expect: 'MISSING_API_KEY',
      run: () => fetch(`${guarded.url}/v1/models`),
    },
    {
      name: 'a wrong API key',
      expect: 'INVALID_API_KEY',
      run: () => fetch(`${guarded.url}/load_model`, { ...jsonPost('{"model": "a/b"}'), headers: auth('sk-wrong') }),
    },
  ];
  for (const c of cases) {
    const res = await c.run();
    const body = (await res.json()) as ErrorBody;
    t.equal(body.error.code, c.expect, `${c.name}: code`);
    t.equal(res.status, WIRE_ERRORS[c.expect].status, `${c.name}: the catalogue's status`);
    t.ok(body.error.message.length > 0, `${c.name}: a message`);
  }
});

function jsonPost(body: string): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body };
}

function auth(key: string): Record<string, string> {
  return { 'content-type': 'application/json', authorization: `Bearer ${key}` };
}
