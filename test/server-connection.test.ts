// How the server ends connections (issue 14, items 6 and 7), over raw sockets: `Connection: close` ends an event
// stream's connection at its last event, and a client that writes a too-large body in full before reading reads its
// 413 rather than a broken pipe.
import t from 'tap';
import { startServer } from '../src/server/start.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { jsonPostHead, rawConnection } from './helpers/raw-http.js';

// Long enough that a connection kept open after its stream would outlast the test's wait for the close.
const LONG = { keepAliveTimeoutMs: 120_000, requestTimeoutMs: 120_000 };

t.test('Connection: close ends a /load_model stream at its last event', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, limits: LONG, heartbeatMs: 0 });
  t.teardown(() => server.close());
  const body = JSON.stringify({ model: 'org/a' });
  const conn = rawConnection(server.port, (s) =>
    s.write(jsonPostHead('/load_model', body.length, 'Connection: close\r\n') + body),
  );
  (await gated.loadStarted('org/a@main')).release();
  const seen = await conn.done;
  t.equal(seen.status, 200);
  t.match(seen.text, /\r\nconnection: close\r\n/i, 'the response says it closes');
  t.notMatch(seen.text, /\r\nconnection: keep-alive\r\n/i, 'and not keep-alive');
  t.match(seen.body, /"status":\s*"ready"/, 'the stream ran to its terminal event, then the server closed');
  t.equal(seen.error, undefined, 'closed cleanly');
});

t.test('Connection: close ends a streamed chat at [DONE]', async (t) => {
  const gated = gatedLoader('one two three');
  const server = await startServer({ loader: gated.loader, limits: LONG, heartbeatMs: 0 });
  t.teardown(() => server.close());
  const body = JSON.stringify({ model: 'org/chat', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const conn = rawConnection(server.port, (s) =>
    s.write(jsonPostHead('/v1/chat/completions', body.length, 'Connection: close\r\n') + body),
  );
  (await gated.loadStarted('org/chat@main')).release();
  (await gated.generationStarted()).release();
  const seen = await conn.done;
  t.equal(seen.status, 200);
  t.match(seen.text, /\r\nconnection: close\r\n/i);
  t.match(
    seen.body,
    /"one"[\s\S]*" two"[\s\S]*" three"[\s\S]*data: \[DONE\]/,
    'the whole reply, then [DONE], then the close',
  );
});

t.test('without Connection: close a stream keeps its connection for the next request', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, limits: { keepAliveTimeoutMs: 300 }, heartbeatMs: 0 });
  t.teardown(() => server.close());
  const body = JSON.stringify({ model: 'org/b' });
  const conn = rawConnection(server.port, (s) => s.write(jsonPostHead('/load_model', body.length) + body));
  (await gated.loadStarted('org/b@main')).release();
  // The same socket then carries a second request.
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (!/"ready"/.test(conn.received())) return;
      clearInterval(check);
      conn.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      resolve();
    }, 20);
  });
  const seen = await conn.done;
  t.match(seen.text, /\r\nconnection: keep-alive\r\n/i, 'keep-alive was offered');
  t.match(seen.text, /"ready"[\s\S]*HTTP\/1\.1 200 OK[\s\S]*\{"status":"ok"\}/, 'and the second request answered');
});

for (const mib of [4, 8]) {
  t.test(`a client that writes a whole ${mib} MiB body before reading reads its 413`, async (t) => {
    const server = await startServer({ loader: gatedLoader().loader });
    t.teardown(() => server.close());
    const size = mib * 1024 * 1024;
    let written: Error | null | undefined;
    const conn = rawConnection(server.port, (s) => {
      s.write(jsonPostHead('/v1/chat/completions', size));
      s.write(Buffer.alloc(size, 0x20), (error) => (written = error ?? null));
    });
    const seen = await conn.done;
    t.equal(written, null, 'the whole body was written without a broken pipe');
    t.equal(seen.error, undefined, 'no socket error');
    t.equal(seen.status, 413, '413');
    t.match(JSON.parse(seen.body), { error: { message: /large|limit/i } });
  });
}

t.test('a body past the drain bound is not read forever: the connection is closed', async (t) => {
  const server = await startServer({ loader: gatedLoader().loader });
  t.teardown(() => server.close());
  const size = 64 * 1024 * 1024;
  const conn = rawConnection(server.port, (s) => {
    s.write(jsonPostHead('/v1/chat/completions', size));
    // Keeps writing as long as the server reads; stops at the first error.
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < size && s.writable) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
    };
    pump();
  });
  const seen = await conn.done;
  t.equal(seen.status, 413, 'the 413 still went out');
});
