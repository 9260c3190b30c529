import t from 'tap';
import { startTestServer } from './helpers/stack.js';

// Everything the server logs, as pino writes it (one JSON line per record), at the most verbose level, so that a
// stack trace logged at any level for any of these requests is caught.
const logLines: string[] = [];
const logStream = {
  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line !== '') logLines.push(line);
  },
};

// None of these requests may reach a loader, so the hub is a closed port: a request that got through would fail
// loudly with an SSE stream instead of the expected 4xx.
const server = await startTestServer({ hubUrl: 'http://127.0.0.1:9', logger: { level: 'trace', stream: logStream } });
t.teardown(() => server.close());

/** A logged stack trace: pino serialises an error with a `stack` field, whose frames read `\n    at `. */
const STACK = /"stack"|\n\s+at |\\n\s+at /;

/** `levels` objects `{"a": …}` nested around `inner`. */
function nested(levels: number, inner: string): string {
  return `${'{"a": '.repeat(levels)}${inner}${'}'.repeat(levels)}`;
}

interface Case {
  readonly name: string;
  readonly body: string | undefined;
  /** Defaults to JSON; null sends the body without a Content-Type header. */
  readonly contentType?: string | null;
  readonly method?: string;
  readonly path?: string;
  readonly status: number;
  /** A fragment the error message must contain, so the user learns what was wrong. */
  readonly says: RegExp;
  /** The `Allow` header a 405 must carry. */
  readonly allow?: string;
  /** The `param` the error must name. */
  readonly param?: string;
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
  {
    name: 'newline in id',
    body: JSON.stringify({ model: 'a/b\nc' }),
    status: 400,
    says: /control|character|whitespace/i,
  },
  { name: 'dot-dot segment', body: '{"model": "../etc/passwd"}', status: 400, says: /\.\./ },
  { name: 'absolute path', body: '{"model": "/etc/passwd"}', status: 400, says: /absolute|\//i },
  { name: 'too many segments', body: '{"model": "a/b/c"}', status: 400, says: /segment|org\/name/i },
  {
    name: 'over 256 characters',
    body: JSON.stringify({ model: `a/${'b'.repeat(300)}` }),
    status: 400,
    says: /256|long/,
  },
  { name: 'empty revision', body: '{"model": "a/b@"}', status: 400, says: /revision/ },
  { name: 'bad revision', body: '{"model": "a/b@../x"}', status: 400, says: /revision/ },
  {
    name: 'form body',
    body: 'model=a/b',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
    says: /content-type|media type/i,
  },
  {
    name: 'text/plain body',
    body: '{"model": "a/b"}',
    contentType: 'text/plain',
    status: 415,
    says: /content-type|media type/i,
  },
  {
    name: 'no Content-Type',
    body: '{"model": "a/b"}',
    contentType: null,
    status: 415,
    says: /content-type|media type/i,
  },
  {
    name: 'body too large',
    body: JSON.stringify({ model: 'a/b', pad: 'x'.repeat(2 * 1024 * 1024) }),
    status: 413,
    says: /large|limit/i,
  },
  {
    name: 'GET instead of POST',
    body: undefined,
    method: 'GET',
    status: 405,
    says: /GET .*\/load_model/,
    allow: 'POST',
  },
  {
    name: 'chat: PUT instead of POST',
    body: undefined,
    method: 'PUT',
    path: '/v1/chat/completions',
    status: 405,
    says: /PUT .*\/v1\/chat\/completions.*POST/,
    allow: 'POST',
  },
  { name: 'POST on /health', body: '{}', path: '/health', status: 405, says: /POST .*\/health/, allow: 'GET, HEAD' },
  {
    name: 'DELETE on /reset',
    body: undefined,
    method: 'DELETE',
    path: '/reset',
    status: 405,
    says: /DELETE/,
    allow: 'POST',
  },
  { name: 'unknown route', body: '{}', path: '/nope', status: 404, says: /\/nope/ },
  {
    name: '__proto__ key',
    body: '{"model": "a/b", "__proto__": {"polluted": true}}',
    status: 400,
    says: /JSON body has the key '__proto__', which is refused/,
  },
  {
    name: 'constructor.prototype key',
    body: '{"model": "a/b", "constructor": {"prototype": {"polluted": true}}}',
    status: 400,
    says: /JSON body has the key 'constructor\.prototype'/,
  },
  {
    name: 'chat: a __proto__ key inside a message',
    body: '{"model": "a/b", "messages": [{"role": "user", "content": "x", "__proto__": {}}]}',
    path: '/v1/chat/completions',
    status: 400,
    says: /'messages\[0\]\.__proto__'/,
  },
  {
    name: 'chat: a negative seed',
    body: JSON.stringify({ model: 'a/b', messages: [{ role: 'user', content: 'x' }], seed: -1 }),
    path: '/v1/chat/completions',
    status: 400,
    says: /'seed'.*from 0.*got -1/,
    param: 'seed',
  },
  {
    name: 'chat: a negative seed, streamed',
    body: JSON.stringify({ model: 'a/b', messages: [{ role: 'user', content: 'x' }], seed: -1, stream: true }),
    path: '/v1/chat/completions',
    status: 400,
    says: /'seed'.*got -1/,
    param: 'seed',
  },
  {
    // The key check walks the body without recursion: a deep one is refused like a shallow one (issue 27).
    name: 'a __proto__ key 10,000 levels deep',
    body: `{"model": "a/b", "x": ${nested(10_000, '{"__proto__": {}}')}}`,
    status: 400,
    says: /the key 'x\.a\.a\.a.*…/,
  },
  {
    name: 'chat: a constructor.prototype key 10,000 arrays deep',
    body: `{"model": "a/b", "messages": ${'['.repeat(10_000)}{"constructor": {"prototype": 1}}${']'.repeat(10_000)}}`,
    path: '/v1/chat/completions',
    status: 400,
    says: /'messages\[0\]\[0\].*constructor\.prototype' \(10,00\d levels deep\)/,
  },
  {
    // Fastify's own parse of deep nesting (no forbidden key to look for): the request gets its ordinary answer.
    name: 'chat: messages nested 140,000 levels deep',
    body: `{"model": "a/b", "messages": [${nested(140_000, '1')}]}`,
    path: '/v1/chat/completions',
    status: 400,
    says: /messages/,
  },
  { name: 'lone surrogate in id', body: '{"model": "a/b\\ud800"}', status: 400, says: /character/i },
  {
    name: 'chat: malformed JSON',
    body: '{"model": "a/b", "messages": [',
    path: '/v1/chat/completions',
    status: 400,
    says: /json/i,
  },
  { name: 'chat: a JSON string', body: '"hello"', path: '/v1/chat/completions', status: 400, says: /object/i },
  {
    name: 'chat: form body',
    body: 'model=a/b',
    contentType: 'application/x-www-form-urlencoded',
    path: '/v1/chat/completions',
    status: 415,
    says: /content-type|media type/i,
  },
  {
    name: 'chat: body too large',
    body: JSON.stringify({ model: 'a/b', messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }] }),
    path: '/v1/chat/completions',
    status: 413,
    says: /large|limit/i,
  },
  {
    name: 'chat: bad model id',
    body: JSON.stringify({ model: '../x', messages: [{ role: 'user', content: 'x' }] }),
    path: '/v1/chat/completions',
    status: 400,
    says: /model/,
  },
  {
    name: 'chat: messages an object',
    body: JSON.stringify({ model: 'a/b', messages: { role: 'user' } }),
    path: '/v1/chat/completions',
    status: 400,
    says: /messages/,
  },
  {
    name: 'chat: a message that is null',
    body: JSON.stringify({ model: 'a/b', messages: [null] }),
    path: '/v1/chat/completions',
    status: 400,
    says: /messages/,
  },
  { name: 'unload: malformed JSON', body: '{"model"', path: '/unload_model', status: 400, says: /json/i },
  { name: 'unload: dot-dot segment', body: '{"model": "../x"}', path: '/unload_model', status: 400, says: /\.\./ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const res = await fetch(`${server.url}${c.path ?? '/load_model'}`, {
      method: c.method ?? 'POST',
      ...(c.body === undefined
        ? {}
        : c.contentType === null
          ? { body: new TextEncoder().encode(c.body) } // bytes: fetch adds no Content-Type of its own
          : { body: c.body, headers: { 'content-type': c.contentType ?? 'application/json' } }),
    });
    t.equal(res.status, c.status, 'status');
    t.match(res.headers.get('content-type'), /^application\/json/, 'a JSON body, not an event stream');
    const body = (await res.json()) as { error?: { message?: unknown; type?: unknown; param?: unknown } };
    t.type(body.error?.message, 'string', 'names the problem');
    t.match(String(body.error?.message), c.says);
    t.equal(body.error?.type, 'invalid_request_error');
    if (c.allow !== undefined) t.equal(res.headers.get('allow'), c.allow, 'Allow names the methods');
    if (c.param !== undefined) t.equal(body.error?.param, c.param, 'param names the field');
  });
}

t.test('the server still answers after the battery', async (t) => {
  const res = await fetch(`${server.url}/health`);
  t.equal(res.status, 200);
  t.same(await res.json(), { status: 'ok' });
});

t.test('the server never logs a stack trace for bad input, and never answers 500', async (t) => {
  const records = logLines.map((line) => JSON.parse(line) as { msg?: string; res?: { statusCode?: number } });
  // The capture is real: Fastify logged every request of the battery, with the status it answered.
  const completed = records.filter((r) => r.msg === 'request completed');
  t.ok(completed.length >= cases.length, `one "request completed" record per request (${completed.length})`);
  const statuses = completed.map((r) => r.res?.statusCode);
  t.ok(
    statuses.every((s) => s === 200 || (s !== undefined && s >= 400 && s < 500)),
    `all 4xx (and /health's 200): ${statuses.join(' ')}`,
  );
  t.notOk(
    statuses.some((s) => s === undefined || s >= 500),
    'no 5xx',
  );
  const withStack = logLines.filter((line) => STACK.test(line));
  t.strictSame(withStack, [], 'no log line holds a stack trace');
  t.notOk(
    logLines.some((line) => /"level":50|"level":60/.test(line)),
    'nothing logged at error or fatal level',
  );
});

t.test('control: the capture would see a stack trace if one were logged', async (t) => {
  const before = logLines.length;
  server.app.log.error(new Error('a control error'));
  const logged = logLines.slice(before);
  t.equal(logged.length, 1, 'the logger writes to the capture stream');
  t.ok(
    logged.some((line) => STACK.test(line)),
    'and the stack detector finds the stack in it',
  );
});

t.test('the start is logged in words, never as an empty line', async (t) => {
  const records = logLines.map((line) => JSON.parse(line) as { msg?: string });
  t.notOk(
    records.some((r) => r.msg === ''),
    'no empty log message',
  );
  t.ok(
    records.some((r) => /^modeldeck server listening on http:\/\/127\.0\.0\.1:\d+$/.test(r.msg ?? '')),
    'the listen line says where',
  );
});
