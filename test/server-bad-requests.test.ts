import t from 'tap';
import { startTestServer } from './helpers/stack.js';

// None of these requests may reach a loader, so the hub is a closed port: a request that got through would fail
// loudly with an SSE stream instead of the expected 4xx.
const server = await startTestServer({ hubUrl: 'http://127.0.0.1:9' });
t.teardown(() => server.close());

interface Case {
  readonly name: string;
  readonly body: string | undefined;
  readonly contentType?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status: number;
  /** A fragment the error message must contain, so the user learns what was wrong. */
  readonly says: RegExp;
}

const cases: Case[] = [
  { name: 'malformed JSON', body: '{"model": ', status: 400, says: /json/i },
  { name: 'empty body', body: '', status: 400, says: /body/i },
  { name: 'JSON array', body: '["a/b"]', status: 400, says: /object/i },
  { name: 'JSON null', body: 'null', status: 400, says: /object|body/i },
  { name: 'missing model', body: '{}', status: 422, says: /model/ },
  { name: 'model is a number', body: '{"model": 42}', status: 422, says: /string/ },
  { name: 'model is null', body: '{"model": null}', status: 422, says: /model/ },
  { name: 'empty model', body: '{"model": ""}', status: 400, says: /empty/ },
  { name: 'control character', body: JSON.stringify({ model: 'a/b\u0000c' }), status: 400, says: /control|character/i },
  { name: 'newline in id', body: JSON.stringify({ model: 'a/b\nc' }), status: 400, says: /control|character|whitespace/i },
  { name: 'dot-dot segment', body: '{"model": "../etc/passwd"}', status: 400, says: /\.\./ },
  { name: 'absolute path', body: '{"model": "/etc/passwd"}', status: 400, says: /absolute|\//i },
  { name: 'too many segments', body: '{"model": "a/b/c"}', status: 400, says: /segment|org\/name/i },
  { name: 'over 256 characters', body: JSON.stringify({ model: `a/${'b'.repeat(300)}` }), status: 400, says: /256|long/ },
  { name: 'empty revision', body: '{"model": "a/b@"}', status: 400, says: /revision/ },
  { name: 'bad revision', body: '{"model": "a/b@../x"}', status: 400, says: /revision/ },
  { name: 'form body', body: 'model=a/b', contentType: 'application/x-www-form-urlencoded', status: 415, says: /content-type|media type/i },
  { name: 'body too large', body: JSON.stringify({ model: 'a/b', pad: 'x'.repeat(2 * 1024 * 1024) }), status: 413, says: /large|limit/i },
  { name: 'GET instead of POST', body: undefined, method: 'GET', status: 404, says: /GET \/load_model/ },
  { name: 'unknown route', body: '{}', path: '/nope', status: 404, says: /\/nope/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const res = await fetch(`${server.url}${c.path ?? '/load_model'}`, {
      method: c.method ?? 'POST',
      ...(c.body !== undefined
        ? { body: c.body, headers: { 'content-type': c.contentType ?? 'application/json' } }
        : {}),
    });
    t.equal(res.status, c.status, 'status');
    t.match(res.headers.get('content-type'), /^application\/json/, 'a JSON body, not an event stream');
    const body = (await res.json()) as { error?: { message?: unknown; type?: unknown } };
    t.type(body.error?.message, 'string', 'names the problem');
    t.match(String(body.error?.message), c.says);
    t.equal(body.error?.type, 'invalid_request_error');
  });
}

t.test('the server still answers after the battery', async (t) => {
  const res = await fetch(`${server.url}/health`);
  t.equal(res.status, 200);
  t.same(await res.json(), { status: 'ok' });
});
