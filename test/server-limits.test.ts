// The server's connection limits over raw sockets (issue 14, item 1): a client whose request does not arrive in time
// is answered 408 and closed while a normal client is served; an event stream once begun is not cut by the request
// timeout; idle keep-alive connections are closed; past the connection cap the oldest connection that sent nothing is
// closed to make room, and when every connection is busy a request is refused with a 503, but for /health and clients
// with the API key (issue 27, item 8).
import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { DEFAULT_HTTP_LIMITS } from '../src/server/http-limits.js';
import { startServer, type RunningServer } from '../src/server/start.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { jsonPostHead, rawConnection, type RawConnection } from './helpers/raw-http.js';
import { loadModel } from './helpers/sse-client.js';
import { until } from './helpers/until.js';

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

/** Connections open on the server. */
function connections(server: RunningServer): Promise<number> {
  return new Promise((resolve, reject) =>
    server.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

/** One request on a connection of its own (closed after the answer): its status and body. */
async function ask(
  server: RunningServer,
  path: string,
  headers = '',
): Promise<{ status: number | undefined; body: string }> {
  const seen = await rawConnection(server.port, (s) =>
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`),
  ).done;
  return { status: seen.status, body: seen.body };
}

/** `count` connections that send nothing, or not a whole request; resolves once the server has them all. */
async function silentConnections(server: RunningServer, count: number): Promise<RawConnection[]> {
  // Every other one sends the start of its headers and no more (slowloris).
  const held = Array.from({ length: count }, (_, i) =>
    rawConnection(server.port, i % 2 === 0 ? (s) => s.write('GET /health HTTP/1.1\r\nHost:') : undefined),
  );
  await Promise.all(held.map((c) => c.connected));
  await until('the server to see every connection', async () => (await connections(server)) >= count);
  return held;
}

t.test('1,000 silent or half-sent connections lock nobody out: the oldest of them makes room', async (t) => {
  // Started as `modeldeck serve` starts it: --max-connections 1000, and an API key.
  const server = await startServer({ loader: gatedLoader().loader, apiKey: 'sk-room', heartbeatMs: 0 });
  t.teardown(() => server.close());
  const held = await silentConnections(server, DEFAULT_HTTP_LIMITS.maxConnections);
  const health = await ask(server, '/health');
  t.equal(health.status, 200, '/health is answered');
  const models = await ask(server, '/v1/models', 'Authorization: Bearer sk-room\r\n');
  t.equal(models.status, 200, 'a client with the key is served');
  const anonymous = await ask(server, '/v1/models');
  t.equal(anonymous.status, 401, 'a client without it is told it needs the key, not that the server is full');
  // Each client closed its connection after its answer, so the first one's room served the others.
  await until('a silent connection closed', () => held.some((c) => c.socket.destroyed));
  const closed = held.map((c, i) => (c.socket.destroyed ? i : -1)).filter((i) => i >= 0);
  t.strictSame(closed, [0], 'one, the oldest');
  t.equal((await held[0]?.done)?.text, '', 'closed without an answer (it asked nothing)');
  for (const conn of held) conn.socket.destroy();
});

t.test('when every connection is busy: /health and clients with the key are answered, others get 503', async (t) => {
  const MAX = 5;
  const server = await startServer({
    loader: gatedLoader().loader,
    apiKey: 'sk-room',
    heartbeatMs: 0,
    limits: { maxConnections: MAX },
  });
  t.teardown(() => server.close());
  // Busy connections: feed watchers, whose responses never end.
  const busy = Array.from({ length: MAX }, () =>
    rawConnection(server.port, (s) =>
      s.write('GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-room\r\n\r\n'),
    ),
  );
  await until('every watcher streaming', () => busy.every((c) => c.received().includes('event: snapshot')));
  const refused = await ask(server, '/v1/models');
  t.equal(refused.status, 503, 'a client without the key is refused');
  t.match(JSON.parse(refused.body), {
    error: { code: 'TOO_MANY_CONNECTIONS', message: /5 connections open, its limit/, type: 'server_error' },
  });
  t.equal((await ask(server, '/health')).status, 200, '/health is still answered');
  const keyed = await ask(server, '/v1/models', 'Authorization: Bearer sk-room\r\n');
  t.equal(keyed.status, 200, 'a client with the key is still served');
  t.notOk(
    busy.some((c) => c.socket.destroyed),
    'no busy connection was closed',
  );
  for (const conn of busy) conn.socket.destroy();
  await Promise.all(busy.map((c) => c.done));
  await until('the watchers gone', async () => (await connections(server)) === 0);
  t.equal((await ask(server, '/v1/models')).status, 401, 'below the cap again, the key check answers');
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
