// The server's connection limits over raw sockets (issue 14, item 1): a client whose request does not arrive in time
// is answered 408 and closed while a normal client is served; an event stream once begun is not cut by the request
// timeout; idle keep-alive connections are closed; past the connection cap a request is refused with a 503.
import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { startServer } from '../src/server/start.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { jsonPostHead, rawConnection, type RawConnection } from './helpers/raw-http.js';
import { loadModel } from './helpers/sse-client.js';

const REQUEST_TIMEOUT_MS = 800;

t.test('a request that does not arrive in time gets 408 and is closed; a normal client is served', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({
    loader: gated.loader,
    limits: { requestTimeoutMs: REQUEST_TIMEOUT_MS, keepAliveTimeoutMs: 60_000 },
  });
  t.teardown(() => server.close());
  const body = JSON.stringify({ model: 'org/none', messages: [{ role: 'user', content: 'hi' }] });

  const silentConnection = rawConnection(server.port);
  const silentBody = rawConnection(server.port, (s) => s.write(jsonPostHead('/v1/chat/completions', body.length)));
  const partialHeaders = rawConnection(server.port, (s) => s.write('POST /load_model HTTP/1.1\r\nHost: x\r\n'));
  // One byte of the body every 150 ms: each byte is "activity", but the whole body never arrives in time.
  const slowBody = rawConnection(server.port, (s) => {
    s.write(jsonPostHead('/v1/chat/completions', body.length));
    let i = 0;
    const drip = setInterval(() => {
      if (!s.writable || i >= body.length) return clearInterval(drip);
      s.write(body[i++] as string);
    }, 150);
    s.once('close', () => clearInterval(drip));
  });

  // While they wait, a normal client is served at once.
  const health = await fetch(`${server.url}/health`);
  t.equal(health.status, 200, 'a normal client is served while the slow ones wait');

  for (const [name, conn] of Object.entries({ silentConnection, silentBody, partialHeaders, slowBody })) {
    const seen = await conn.done;
    t.equal(seen.status, 408, `${name}: 408`);
    t.match(JSON.parse(seen.body), { error: { code: 'REQUEST_TIMEOUT', message: /did not arrive within 0\.8 s/ } });
    t.match(seen.text, /\r\nConnection: close\r\n/i, `${name}: says it closes`);
    t.ok(seen.closedAfterMs >= REQUEST_TIMEOUT_MS * 0.9, `${name}: not before the timeout (${seen.closedAfterMs} ms)`);
  }
});

t.test('an event stream that began is not cut by the request timeout', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, limits: { requestTimeoutMs: 300 }, heartbeatMs: 0 });
  t.teardown(() => server.close());
  const streaming = loadModel(server.url, 'org/slow');
  const gate = await gated.loadStarted('org/slow@main');
  // Well past the request timeout and several of Node's checks of it.
  await new Promise((r) => setTimeout(r, 1200));
  gate.release();
  const seen = await streaming;
  t.strictSame(
    seen.events.map((e) => e.status),
    ['loading', 'ready'],
    'the stream ran to its end',
  );
});

t.test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
  const server = await startServer({ loader: gatedLoader().loader, limits: { keepAliveTimeoutMs: 300 } });
  t.teardown(() => server.close());
  const conn = rawConnection(server.port, (s) => s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
  const seen = await conn.done;
  t.equal(seen.status, 200, 'the request was answered');
  t.ok(seen.closedAfterMs >= 300, `then the idle connection was closed (${seen.closedAfterMs} ms)`);
});

t.test('past the connection cap a request gets 503 TOO_MANY_CONNECTIONS and the connection is closed', async (t) => {
  const MAX = 5;
  const server = await startServer({ loader: gatedLoader().loader, limits: { maxConnections: MAX } });
  t.teardown(() => server.close());
  const held: RawConnection[] = [];
  for (let i = 0; i < MAX; i++) {
    const conn = rawConnection(server.port);
    await conn.connected;
    held.push(conn);
  }
  // Let the server see all of them before the next one arrives.
  await new Promise((r) => setTimeout(r, 100));
  const over = rawConnection(server.port, (s) => s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
  const seen = await over.done;
  t.equal(seen.status, 503, 'refused with 503');
  t.match(JSON.parse(seen.body), {
    error: { code: 'TOO_MANY_CONNECTIONS', message: /5 connections open, its limit/, type: 'server_error' },
  });
  t.match(seen.text, /\r\nretry-after: 1\r\n/i);
  for (const conn of held) conn.socket.destroy();
  await Promise.all(held.map((c) => c.done));
  // With the held ones gone, the next client is served.
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await fetch(`${server.url}/health`)).status, 200, 'served again below the cap');
});

t.test('serve: the limits come from flags with documented defaults, and bad values are refused', async (t) => {
  const defaults = resolveServeConfig([], { HF_HOME: t.testdir() });
  t.match(defaults, { requestTimeout: 30, keepAliveTimeout: 5, maxConnections: 1000 });
  const config = resolveServeConfig(
    ['--request-timeout', '2.5', '--keep-alive-timeout', '1', '--max-connections', '7'],
    { HF_HOME: t.testdir() },
  );
  if (!config) throw new Error('no config');
  t.match(serverOptions(config).limits, { requestTimeoutMs: 2500, keepAliveTimeoutMs: 1000, maxConnections: 7 });
  t.throws(() => resolveServeConfig(['--max-connections=-3'], {}), /--max-connections must be a whole number/);
  t.throws(() => resolveServeConfig(['--request-timeout', 'soon'], {}), /--request-timeout must be a number/);
  t.throws(() => resolveServeConfig(['--max-connections', '1.5'], {}), /--max-connections must be a whole number/);
});
