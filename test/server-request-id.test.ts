// X-Request-ID (issue 24): every answer carries one, the client's when it is 1 to 128 visible ASCII characters, else
// one the server mints; the log line of the request carries it, and so do the feed's chat_start and chat_end.
import t from 'tap';
import { createWireJournal, type JournalEntry } from '../src/client/wire-journal.js';
import { createWireTap } from '../src/client/wire-tap.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { rawConnection } from './helpers/raw-http.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const FULL = 'full-key-request-id-0123';
const logLines: string[] = [];
const logStream = {
  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line !== '') logLines.push(line);
  },
};
const mirror = await startTestMirror(await demoModelsDir());
const open = await startTestServer({ hubUrl: mirror.url, logger: { level: 'info', stream: logStream } });
const keyed = await startTestServer({ hubUrl: mirror.url, apiKey: FULL });
t.teardown(async () => {
  await open.close();
  await keyed.close();
  await mirror.close();
});

const MINTED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

t.test('echoed when usable, minted when absent or unusable', async (t) => {
  const minted = await fetch(`${open.url}/health`);
  t.match(minted.headers.get('x-request-id'), MINTED, 'none sent: one minted');
  const other = await fetch(`${open.url}/health`);
  t.not(other.headers.get('x-request-id'), minted.headers.get('x-request-id'), 'each request its own');

  const mine = 'trace-7f3a/req:42_OK~';
  const echoed = await fetch(`${open.url}/health`, { headers: { 'x-request-id': mine } });
  t.equal(echoed.headers.get('x-request-id'), mine, 'a usable one echoed as sent');
  const longest = 'x'.repeat(128);
  t.equal(
    (await fetch(`${open.url}/health`, { headers: { 'x-request-id': longest } })).headers.get('x-request-id'),
    longest,
    '128 characters are kept',
  );
  for (const [what, value] of [
    ['129 characters', 'x'.repeat(129)],
    ['a space', 'two words'],
  ] as const) {
    const res = await fetch(`${open.url}/health`, { headers: { 'x-request-id': value } });
    t.match(res.headers.get('x-request-id'), MINTED, `${what}: replaced`);
  }
  // Bytes past ASCII cannot be sent through fetch: a raw request sends them.
  const raw = rawConnection(Number(new URL(open.url).port), (socket) =>
    socket.end(
      'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: caf\u00e9\r\nConnection: close\r\n\r\n',
      'latin1',
    ),
  );
  const exchange = await raw.done;
  t.equal(exchange.status, 200);
  const header = /\r\nx-request-id: ([^\r]*)\r\n/i.exec(exchange.text)?.[1];
  t.match(header, MINTED, 'a byte past ASCII: replaced');
});

t.test('every answer carries it: 404, 401, an error body', async (t) => {
  const id = 'req-404';
  const missing = await fetch(`${open.url}/nowhere`, { headers: { 'x-request-id': id } });
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('x-request-id'), id, 'a 404');
  const refused = await fetch(`${keyed.url}/v1/models`, { headers: { 'x-request-id': 'req-401' } });
  t.equal(refused.status, 401);
  t.equal(refused.headers.get('x-request-id'), 'req-401', 'a 401 before the route');
  const bad = await fetch(`${open.url}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'req-400' },
    body: '{"model": 5}',
  });
  t.equal(bad.status, 422);
  t.equal(bad.headers.get('x-request-id'), 'req-400', 'a refused body');
});

t.test('the log line and the feed carry it', async (t) => {
  const feed = await watchFeed(open.url);
  t.teardown(() => feed.close());
  const id = 'chat-req-0001';
  const chat = await fetch(`${open.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ model: 'modeldeck/tiny-chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  });
  t.equal(chat.status, 200);
  t.equal(chat.headers.get('x-request-id'), id, 'the chat answer');
  const start = await feed.waitFor('chat_start', (e) => e.event === 'chat_start');
  const end = await feed.waitFor('chat_end', (e) => e.event === 'chat_end');
  t.match(start.data, { request_id: id, request: /^chatcmpl-/ }, 'chat_start');
  t.match(end.data, { request_id: id, request: /^chatcmpl-/ }, 'chat_end');
  const logged = logLines.map((line) => JSON.parse(line) as { reqId?: string; msg?: string });
  t.ok(
    logged.some((line) => line.reqId === id && line.msg === 'incoming request'),
    'the request is logged with it',
  );
  t.ok(
    logged.some((line) => line.reqId === id && line.msg === 'request completed'),
    'and its answer',
  );
});

t.test('the SSE debugger shows the request id of each stream’s answer, the one the server logged', async (t) => {
  const entries: JournalEntry[] = [];
  const journal = createWireJournal({ onEntry: (e) => entries.push(e) });
  const tap = createWireTap({ onRecord: (r) => journal.feed(r) });
  const res = await tap.fetchFor('s1 load')(`${open.url}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'debug-me-42' },
    body: JSON.stringify({ model: 'modeldeck/tiny-chat' }),
  });
  await res.text();
  const answer = entries.find((e) => e.kind === 'answer');
  t.match(answer?.text, /^HTTP 200 OK text\/event-stream.* · request debug-me-42$/, 'the answer line names it');
  t.ok(
    logLines.some((line) => line.includes('debug-me-42')),
    'and the server’s log has the same id',
  );
});
