import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEventSource } from 'eventsource-client';
import t from 'tap';
import { createWireTap, streamKind, type WireRecord } from '../src/client/wire-tap.js';
import { createSseLineSplitter, showWireLine, type WireLine } from '../src/protocol/sse-lines.js';
import { createSseParser } from '../src/protocol/sse.js';
import { until } from './helpers/until.js';
import { closedPort } from './helpers/closed-port.js';

t.test('the line splitter keeps every ending exactly, across any chunking', async (t) => {
  const wire = 'retry: 50\r\n: hi\r\nid: 7\nevent: progress\rdata: {"a": 1}\r\n\r\ndata: é\n\ndata: cut';
  const expected = [
    ['retry: 50', '\r\n', 'retry', '50'],
    [': hi', '\r\n', 'comment', 'hi'],
    ['id: 7', '\n', 'id', '7'],
    ['event: progress', '\r', 'event', 'progress'],
    ['data: {"a": 1}', '\r\n', 'data', '{"a": 1}'],
    ['', '\r\n', 'blank', ''],
    ['data: é', '\n', 'data', 'é'],
    ['', '\n', 'blank', ''],
    ['data: cut', '', 'data', 'cut'],
  ];
  for (let size = 1; size <= wire.length; size += size < 4 ? 1 : 7) {
    const lines: WireLine[] = [];
    const splitter = createSseLineSplitter((l) => lines.push(l));
    for (let i = 0; i < wire.length; i += size) splitter.feed(wire.slice(i, i + size));
    splitter.end();
    t.same(
      lines.map((l) => [l.text, l.ending, l.field, l.value]),
      expected,
      `chunks of ${size}`,
    );
    t.equal(lines.map((l) => l.text + l.ending).join(''), wire, `chunks of ${size}: the lines rebuild the wire`);
  }
  t.equal(showWireLine({ text: 'data: a\tb\x1b[2J', ending: '\r\n' }), 'data: a\\tb\\u001b[2J\\r\\n');
  t.equal(showWireLine({ text: 'data: x', ending: '' }), 'data: x⏎?');
});

/** A server whose stream is written in pieces with pauses, CRLF endings, comments and every field. */
async function startWireServer(): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const server = createServer(async (req, res: ServerResponse) => {
    hits++;
    if (req.url === '/missing') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error": "no"}');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'x-other': 'dropped',
    });
    res.flushHeaders();
    const pieces = [
      'retry: 30\r\n: keep-alive\r\n',
      'event: progress\r\nid: 1\r\ndata: {"n": 1}\r',
      '\n\r\n',
      'data: {"n": 2}\n\n',
    ];
    for (const piece of pieces) {
      await sleep(15);
      res.write(piece);
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

t.test(
  'the tap records the answer, every line exactly, and the times they arrived; the reader gets every byte',
  async (t) => {
    const server = await startWireServer();
    t.teardown(() => server.close());
    const records: WireRecord[] = [];
    const tap = createWireTap({ onRecord: (r) => records.push(r), now: () => performance.now() });

    const response = await tap.fetchFor('s1 load')(`${server.url}/load_model`, { method: 'POST', body: '{}' });
    const events: string[] = [];
    const parser = createSseParser({ onEvent: (e) => events.push(e.data) });
    let body = '';
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      body += decoder.decode(chunk, { stream: true });
      parser.feed(chunk);
    }
    t.same(events, ['{"n": 1}', '{"n": 2}'], 'the reader parses the stream as if untapped');
    t.equal(body, 'retry: 30\r\n: keep-alive\r\nevent: progress\r\nid: 1\r\ndata: {"n": 1}\r\n\r\ndata: {"n": 2}\n\n');

    t.match(records[0], {
      kind: 'connecting',
      stream: 's1 load',
      method: 'POST',
      url: `${server.url}/load_model`,
      attempt: 1,
    });
    t.match(records[1], {
      kind: 'answer',
      status: 200,
      statusText: 'OK',
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      },
    });
    t.notOk('x-other' in (records[1] as { headers: object }).headers, 'only the headers that matter');
    const lines = records.flatMap((r) => (r.kind === 'line' ? [r] : []));
    t.same(
      lines.map((r) => [r.frame, r.line.field, showWireLine(r.line)]),
      [
        [0, 'retry', 'retry: 30\\r\\n'],
        [0, 'comment', ': keep-alive\\r\\n'],
        [0, 'event', 'event: progress\\r\\n'],
        [0, 'id', 'id: 1\\r\\n'],
        [0, 'data', 'data: {"n": 1}\\r\\n'],
        [0, 'blank', '\\r\\n'],
        [1, 'data', 'data: {"n": 2}\\n'],
        [1, 'blank', '\\n'],
      ],
      'every field of every frame, in order, with its ending (a CRLF split over two chunks stays one)',
    );
    for (let i = 1; i < lines.length; i++) {
      t.ok((lines[i]?.at ?? 0) >= (lines[i - 1]?.at ?? 0), `line ${i}: its time does not go back`);
    }
    t.ok((lines[2]?.at ?? 0) > (lines[0]?.at ?? 0), 'lines of later chunks have later times');
    t.match(records.at(-1), { kind: 'end', how: 'closed', bytes: Buffer.byteLength(body) });
  },
);

t.test('eventsource-client through the tap: the answer, its frames, and each reconnect attempt', async (t) => {
  const server = await startWireServer();
  t.teardown(() => server.close());
  const records: WireRecord[] = [];
  const tap = createWireTap({ onRecord: (r) => records.push(r) });
  const messages: string[] = [];
  const es = createEventSource({
    url: `${server.url}/events`,
    fetch: tap.fetchFor('feed'),
    onMessage: (m) => messages.push(m.data),
  });
  t.teardown(() => es.close());
  await until(
    'two connections',
    () => server.hits() >= 2 && records.filter((r) => r.kind === 'end').length >= 1,
    10_000,
  );
  es.close();
  t.same(messages.slice(0, 2), ['{"n": 1}', '{"n": 2}']);
  const connecting = records.filter((r) => r.kind === 'connecting');
  t.same(
    connecting.slice(0, 2).map((r) => r.kind === 'connecting' && r.attempt),
    [1, 2],
    'the second connection is recorded as reconnect attempt 2',
  );
  t.ok(
    records.some((r) => r.kind === 'end' && r.how === 'closed'),
    'the end of the first connection',
  );
});

t.test('an HTTP error, a refused connection and a client abort are recorded', async (t) => {
  const server = await startWireServer();
  t.teardown(() => server.close());
  const records: WireRecord[] = [];
  const tap = createWireTap({ onRecord: (r) => records.push(r) });

  const missing = await tap.fetchFor('a')(`${server.url}/missing`);
  t.equal(await missing.text(), '{"error": "no"}', 'the body reaches the reader');
  t.match(
    records.filter((r) => r.stream === 'a').map((r) => r.kind),
    ['connecting', 'answer', 'line', 'end'],
  );
  t.match(
    records.find((r) => r.kind === 'answer'),
    { status: 404, headers: { 'content-type': 'application/json' } },
  );

  await t.rejects(tap.fetchFor('b')(`http://127.0.0.1:${await closedPort()}/`));
  t.match(
    records.find((r) => r.stream === 'b' && r.kind === 'error'),
    { message: /fetch failed.*ECONNREFUSED/ },
  );

  const abort = new AbortController();
  const res = await tap.fetchFor('c')(`${server.url}/events`, { signal: abort.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  await reader.cancel();
  t.match(records.filter((r) => r.stream === 'c').at(-1), { kind: 'end', how: 'cancelled' });
});

t.test('a tagged fetch names each stream by the session and what the URL is', async (t) => {
  const server = await startWireServer();
  t.teardown(() => server.close());
  const records: WireRecord[] = [];
  const tap = createWireTap({ onRecord: (r) => records.push(r) });
  const s1 = tap.taggedFetch('s1');
  for (const path of ['/load_model', '/v1/chat/completions', '/events', '/load_model'])
    await (await s1(`${server.url}${path}`)).text();
  t.same(
    records.filter((r) => r.kind === 'connecting').map((r) => r.kind === 'connecting' && [r.stream, r.attempt]),
    [
      ['s1 load', 1],
      ['s1 chat', 1],
      ['s1 feed', 1],
      ['s1 load', 2],
    ],
  );
  t.equal(streamKind('http://h/v1/models'), '/v1/models');
});

t.test(
  'a tagged fetch records each one-shot request as a first connection; a tap without onRecord passes through',
  async (t) => {
    const server = await startWireServer();
    t.teardown(() => server.close());
    const records: WireRecord[] = [];
    const tap = createWireTap({ onRecord: (r) => records.push(r) });
    const feed = tap.taggedFetch('feed:h');
    for (const path of ['/v1/models', '/v1/models', '/unload_model', '/events'])
      await (await feed(`${server.url}${path}`)).text();
    t.same(
      records.filter((r) => r.kind === 'connecting').map((r) => r.kind === 'connecting' && [r.stream, r.attempt]),
      [
        ['feed:h /v1/models', 1],
        ['feed:h /v1/models', 1],
        ['feed:h /unload_model', 1],
        ['feed:h feed', 1],
      ],
      'asking again is not a reconnect',
    );

    const silent = createWireTap().taggedFetch('load');
    const missing = await silent(`${server.url}/missing`);
    t.equal(missing.status, 404);
    t.equal(await missing.text(), '{"error": "no"}', 'the answer reaches the reader unchanged');
  },
);
