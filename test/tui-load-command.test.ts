// `modeldeck load`, in-process: exit codes and output in both modes, against a real server and scripted ones.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { createProgressPrinter, runLoadCommand } from '../src/cli/load.js';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { listenForTest } from './helpers/loopback.js';

const MODEL = 'modeldeck/tiny-chat';
const models = await demoModelsDir();
const mirror = await startTestMirror(models, { throttle: 2_000_000 });
t.teardown(() => mirror.close());

async function load(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runLoadCommand(argv, { stdout, stderr, env });
  return { code, out, err, lines: out.trimEnd().split('\n') };
}

async function scripted(body: (res: ServerResponse) => void) {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => body(res));
  });
  return listenForTest(t, server);
}

t.test('plain progress lines, exit 0 on ready; then --json on a model already in memory', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const plain = await load(['--server', server.url, MODEL]);
  t.equal(plain.code, 0, plain.err);
  t.equal(plain.err, '');
  t.equal(plain.lines[0], `loading ${MODEL} on ${server.url}`);
  t.same(plain.lines.slice(1, 3), ['processor', 'config']);
  t.ok(
    plain.lines.some((l) => /^download [\d.]+ [kM]?B \/ 1\.11 MB \(\d+%\)$/.test(l)),
    'download lines with bytes and percent',
  );
  t.ok(plain.lines.includes('download 1.11 MB / 1.11 MB (100%)'), 'the download completes');
  t.ok(plain.lines.includes('weights 3 / 3 items (100%)'), 'weights complete, with their unit');
  t.match(plain.lines.at(-1), /^ready: modeldeck\/tiny-chat@main \(in [\d.]+s\)$/);

  const json = await load(['--server', `${server.url}/v1`, MODEL, '--json']);
  t.equal(json.code, 0);
  t.equal(json.lines.length, 1);
  t.match(
    json.lines[0],
    /^\{"status": "ready", "model": "modeldeck\/tiny-chat@main", "cached": true, "size_bytes": \d+, "dtype": "fp32"\}$/,
    'the raw payload as sent',
  );
});

t.test('--json on a fresh load: every event, raw, one per line', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const json = await load(['--server', server.url, '--json', MODEL]);
  t.equal(json.code, 0);
  const events = json.lines.map((l) => JSON.parse(l) as { status: string; stage?: string });
  t.equal(json.lines[0], '{"status": "loading", "model": "modeldeck/tiny-chat@main", "stage": "processor"}');
  t.match(events.at(-1), { status: 'ready', model: `${MODEL}@main`, cached: false });
  t.ok(events.some((e) => e.stage === 'download') && events.some((e) => e.stage === 'weights'));
});

t.test('a load error: exit 1, the message on stderr', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  for (const mode of [[], ['--json']]) {
    const r = await load(['--server', server.url, 'modeldeck/no-such-model', ...mode]);
    t.equal(r.code, 1);
    t.match(r.err, /^modeldeck: load failed: .+\n$/);
  }
});

t.test(
  "--dtype is the request's dtype: a variant the repository lacks fails naming what it has, a list falls back",
  async (t) => {
    const server = await startTestServer({ hubUrl: mirror.url });
    t.teardown(() => server.close());
    const missing = await load(['--server', server.url, MODEL, '--dtype', 'q4']);
    t.equal(missing.code, 1, 'the demo models are fp32 only');
    t.match(
      missing.err,
      /^modeldeck: load failed: .*q4.*fp32/,
      'the server names the dtype asked for and the one there is',
    );
    const fallback = await load(['--server', server.url, MODEL, '--dtype', 'q4, fp32']);
    t.equal(fallback.code, 0, fallback.err);
    t.match(fallback.lines.at(-1), /^ready: modeldeck\/tiny-chat@main/);
    await t.rejects(load(['--server', server.url, MODEL, '--dtype', 'q5']), {
      name: 'UsageError',
      message: /--dtype: unknown dtype "q5" \(valid values: .*auto\), got 'q5'/,
    });
  },
);

t.test('an API key: 401 without the right one, ready with it (flag or environment)', async (t) => {
  const { url, close } = await startServer({
    loader: { hubUrl: mirror.url, cacheDir: t.testdir() },
    apiKey: 'sekret',
  });
  t.teardown(close);
  const denied = await load(['--server', url, MODEL, '--api-key', 'wrong']);
  t.equal(denied.code, 1);
  t.match(denied.err, 'HTTP 401 Unauthorized: the API key is not valid for this server');
  t.match(denied.err, '--api-key');
  t.notMatch(denied.err + denied.out, 'wrong', 'the key is never printed');
  const none = await load(['--server', url, MODEL]);
  t.match(none.err, 'requires an API key');
  t.equal((await load(['--server', url, MODEL, '--api-key', 'sekret'])).code, 0);
  t.equal((await load(['--server', url, MODEL], { MODELDECK_API_KEY: 'sekret' })).code, 0, 'from MODELDECK_API_KEY');
});

t.test('a broken stream, a server without /load_model, an unreachable server: exit 1', async (t) => {
  const early = await scripted((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(
      'data: {"status": "loading", "model": "o/m@main", "stage": "download", "progress": {"current": 5, "total": 10}}\n\n',
    );
  });
  const plain = await load(['--server', early, 'o/m']);
  t.equal(plain.code, 1);
  t.equal(
    plain.err,
    'modeldeck: load failed: stream ended before ready (the server closed the stream mid-load; running the command ' +
      'again is safe and resumes the download)\n',
  );
  t.match(plain.out, 'download 5 B / 10 B (50%)');
  const json = await load(['--server', early, 'o/m', '--json']);
  t.equal(json.code, 1, 'never a success in --json mode either');
  t.equal(
    json.out,
    '{"status": "loading", "model": "o/m@main", "stage": "download", "progress": {"current": 5, "total": 10}}\n',
  );

  const notFound = await scripted((res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"detail":"Not Found"}');
  });
  const nf = await load(['--server', notFound, 'o/m']);
  t.equal(nf.code, 1);
  t.match(nf.err, 'HTTP 404 Not Found: Not Found');

  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const gone = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((r) => probe.close(() => r()));
  const unreachable = await load(['--server', gone, 'o/m']);
  t.equal(unreachable.code, 1);
  t.equal(
    unreachable.err,
    `modeldeck: load failed: cannot reach ${gone}: ECONNREFUSED ` +
      '(check --server and that the server is running, then run the command again)\n',
  );
});

t.test("upstream's quirks: total null, no spaces, CRLF, unknown stage", async (t) => {
  const url = await scripted((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(
      'data:{"status":"loading","model":"o/m@main","stage":"download","progress":{"current":1500,"total":null}}\r\n\r\n' +
        ': keep-alive\r\n\r\n' +
        'data:{"status":"loading","model":"o/m@main","stage":"warmup"}\r\n\r\n' +
        'data:{"status":"ready","model":"o/m@main","cached":false}\r\n\r\n',
    );
  });
  const plain = await load(['--server', url, 'o/m']);
  t.equal(plain.code, 0);
  t.same(plain.lines.slice(1, 3), ['download 1.50 kB (total unknown)', 'warmup']);
  const json = await load(['--server', url, 'o/m', '--json']);
  t.same(
    json.lines,
    [
      '{"status":"loading","model":"o/m@main","stage":"download","progress":{"current":1500,"total":null}}',
      '{"status":"loading","model":"o/m@main","stage":"warmup"}',
      '{"status":"ready","model":"o/m@main","cached":false}',
    ],
    'payloads exactly as sent; the heartbeat is not an event',
  );
});

t.test('usage errors and help', async (t) => {
  await t.rejects(load([]), { name: 'UsageError', message: /needs a MODEL/ });
  await t.rejects(load(['a/b', 'c/d']), { name: 'UsageError', message: /one MODEL/ });
  await t.rejects(load(['--server', 'ftp://x', 'a/b']), { name: 'UsageError', message: /--server/ });
  await t.rejects(load(['../x']), { name: 'UsageError' });
  await t.rejects(load(['--jsn', 'a/b']), { name: 'UsageError', message: /jsn/ });
  const help = await load(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, 'Usage: modeldeck load');
  t.match(help.out, 'Exit status: 0');
});

t.test('plain lines: a stage change at once, progress at most once a second, completion always', async (t) => {
  let now = 0;
  const print = createProgressPrinter(() => now);
  const dl = (current: number) =>
    print({ status: 'loading', model: 'm', stage: 'download', progress: { current, total: 100 } });
  t.equal(dl(0), 'download 0 B / 100 B (0%)');
  now = 100;
  t.equal(dl(10), null, 'too soon');
  now = 1200;
  t.equal(dl(50), 'download 50 B / 100 B (50%)');
  now = 1300;
  t.equal(dl(100), 'download 100 B / 100 B (100%)', 'completion is never held back');
  t.equal(
    print({ status: 'loading', model: 'm', stage: 'weights', progress: { current: 1, total: 2 } }),
    'weights 1 / 2 items (50%)',
  );
  now = 2500;
  t.equal(print({ status: 'ready', model: 'm@main', cached: false }), 'ready: m@main (in 2.5s)');
});

t.test('a load cancelled on the server exits 3; one refused for room (MODELS_BUSY) exits 4', async (t) => {
  const ending = (code: string, message: string) =>
    scripted((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        'data: {"status": "loading", "model": "o/m@main", "stage": "download", "progress": {"current": 5, "total": 10}}\n\n' +
          `data: ${JSON.stringify({ status: 'error', model: 'o/m@main', message, code })}\n\n`,
      );
    });
  const cancelled = await load(['--server', await ending('CANCELLED', 'the load of o/m@main was cancelled'), 'o/m']);
  t.equal(cancelled.code, 3);
  t.match(
    cancelled.err,
    /^modeldeck: load cancelled: the load of o\/m@main was cancelled \(another client cancelled it/,
  );
  const busy = await load(['--server', await ending('MODELS_BUSY', 'all 2 resident models are busy: a, b'), 'o/m']);
  t.equal(busy.code, 4);
  t.match(busy.err, /^modeldeck: load refused, no room: all 2 resident models are busy: a, b \(no room on the server/);
  const help = await load(['--help']);
  t.match(help.out, /3 when the load was cancelled on the server/);
  t.match(help.out, /4 when the\s+server holds its --max-models models/);
});
