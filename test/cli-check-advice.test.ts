// `modeldeck check` as a user runs it (the compiled bin in a child process): one line for a server that cannot be
// reached or needs a key, a resident model left resident unless --unload says otherwise (and the report says when it
// did), the content type it expected, and each lint finding once per stream with its count.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import t from 'tap';
import type { CheckReport } from '../src/client/check/conformance.js';
import { closedPort } from './helpers/closed-port.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { modeldeckBin } from './helpers/repo.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { listenForTest } from './helpers/loopback.js';
import { untracked } from './helpers/untracked.js';

const MODEL = 'modeldeck/tiny-chat';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function check(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [command, argv] = untracked(process.execPath, [modeldeckBin, 'check', ...args]);
    const child = spawn(command, argv, {
      env: { ...process.env, MODELDECK_API_KEY: '' },
      stdio: 'pipe',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The table's rows, by check name. */
function rows(out: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of out.split('\n')) {
    const match = /^([a-z-]+) {2,}(pass|fail|n\/a) {2,}(.*)$/.exec(line);
    if (match?.[1] && match[2] && match[3] !== undefined) found.set(match[1], `${match[2]} ${match[3]}`);
  }
  return found;
}

const mirror = await startTestMirror(await demoModelsDir());
t.teardown(() => mirror.close());

t.test('a dead server: one line, the summary says the rest did not run', async (t) => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const r = await check([url, '--model', MODEL]);
  t.equal(r.code, 1);
  t.equal(
    r.stdout,
    [
      `modeldeck check ${url} --model ${MODEL}`,
      '',
      'CHECK   RESULT  REASON',
      `health  fail    cannot reach ${url}: connection refused (ECONNREFUSED); is the server running, and is the URL right?`,
      '',
      '0 passed, 1 failed, 10 not run (the server cannot be reached)',
      '',
    ].join('\n'),
  );
  t.equal(r.stdout.split('ECONNREFUSED').length - 1, 1, 'the refusal is told once');

  const json = await check([url, '--model', MODEL, '--json']);
  const report = JSON.parse(json.stdout) as CheckReport;
  t.same(
    report.results.map((row) => row.id),
    ['health'],
  );
  t.equal(report.stopped?.reason, 'the server cannot be reached');
  t.equal(report.stopped?.notRun.length, 10);
  t.equal(report.access, null, 'no route was asked');
});

t.test('a keyed server, no key: one failing line (a 401 is not a pass), nothing loaded', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url, apiKey: 'sk-advice-check' });
  t.teardown(() => server.close());
  const r = await check([server.url, '--model', MODEL]);
  t.equal(r.code, 1);
  const table = rows(r.stdout);
  t.same([...table.keys()], ['health', 'access'], 'the run stops at access');
  t.equal(
    table.get('access'),
    'fail the server needs an API key and none was given (401 MISSING_API_KEY on GET /v1/models): pass --api-key KEY or set MODELDECK_API_KEY',
  );
  t.match(r.stdout, /^1 passed, 1 failed, 9 not run \(the server needs an API key\)$/m);
  t.same(server.manager.residentRefs(), [], 'nothing resident');
  t.same(server.manager.loadingRefs(), [], 'nothing loading');

  const wrong = await check([server.url, '--model', MODEL, '--api-key', 'sk-not-this-one']);
  t.equal(wrong.code, 1);
  t.match(wrong.stdout, /^access +fail +the server refused this key \(401 INVALID_API_KEY/m);
  t.match(wrong.stdout, /^1 passed, 1 failed, 9 not run \(the server does not take this key\)$/m);
});

t.test('a resident model stays resident; --unload unloads it, and the report says so', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const loaded = await fetch(`${server.url}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL }),
  });
  t.match(await loaded.text(), /"status": "ready"/, 'loaded before the check');
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());

  const kept = await check([server.url, '--model', MODEL]);
  t.equal(kept.code, 0, 'exit 0: nothing failed');
  const table = rows(kept.stdout);
  t.equal(table.get('load'), 'pass resident: one frame, ready with cached: true');
  t.equal(
    table.get('concurrent'),
    'n/a the model was already in server memory and was left there (--unload unloads it first, for every client of the server), so no load ran to share',
  );
  t.notMatch(kept.stdout, /unloaded it/, 'nothing to report about unloading');
  t.same(
    feed.events.filter((e) => e.event === 'unload'),
    [],
    'no client saw it unloaded',
  );
  t.same(
    server.manager.residentRefs().map((r) => r.key),
    [`${MODEL}@main`],
  );

  const unloaded = await check([server.url, '--model', MODEL, '--unload']);
  t.equal(unloaded.code, 0, 'exit 0 with --unload too');
  t.match(unloaded.stdout, new RegExp(`^modeldeck check ${server.url} --model ${MODEL} --unload$`, 'm'));
  t.match(
    unloaded.stdout,
    /^The model was resident: --unload unloaded it \(POST \/unload_model\) to watch a real load, for every client\nof this server, and the checks loaded it again\.$/m,
    'the report says it unloaded the model, for everyone',
  );
  t.match(rows(unloaded.stdout).get('load'), /^pass processor → config → weights → ready/, 'a real load');
  t.match(
    feed.events.find((e) => e.event === 'unload'),
    { data: { model: `${MODEL}@main`, reason: 'request' } },
    'every watcher saw it unloaded',
  );
  t.same(
    server.manager.residentRefs().map((r) => r.key),
    [`${MODEL}@main`],
    'resident again',
  );

  const json = JSON.parse((await check([server.url, '--model', MODEL, '--json'])).stdout) as CheckReport;
  t.same(json.residency, { state: 'kept' });
  t.equal(json.unload, false);
});

/** A server that is not modeldeck: `/load_model` answered as `loadAnswer` says; everything else minimal. */
async function standin(loadAnswer: 'json' | 'growing-total'): Promise<string> {
  const resident = new Set<string>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => void answer(req, res, body));
  });
  const json = (res: ServerResponse, status: number, value: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  async function answer(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    if (req.method === 'GET' && req.url === '/health') return json(res, 200, { status: 'ok' });
    if (req.method === 'GET' && req.url === '/v1/models') return json(res, 200, { object: 'list', data: [] });
    if (req.method !== 'POST') return json(res, req.url === '/events' ? 404 : 405, { detail: 'no' });
    if (req.url !== '/load_model') return json(res, 404, { detail: 'Not Found' });
    let model: string;
    try {
      model = String((JSON.parse(body) as { model: unknown }).model);
    } catch {
      return json(res, 422, { detail: 'bad body' });
    }
    const key = `${model}@main`;
    if (loadAnswer === 'json') return json(res, 200, { status: 'ready', model: key, cached: true });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (event: Record<string, unknown>): boolean => res.write(`data: ${JSON.stringify(event)}\n\n`);
    if (resident.has(key)) {
      send({ status: 'ready', model: key, cached: true });
      return void res.end();
    }
    if (model.startsWith('modeldeck-check/')) {
      send({ status: 'error', model: key, message: 'not found' });
      return void res.end();
    }
    send({ status: 'loading', model: key, stage: 'processor' });
    // Every frame announces a bigger total: one cause, nine findings.
    for (let i = 1; i <= 10; i++) {
      await new Promise((r) => setTimeout(r, 5));
      send({ status: 'loading', model: key, stage: 'download', progress: { current: i * 100, total: i * 100 + 100 } });
    }
    send({ status: 'ready', model: key, cached: false });
    resident.add(key);
    res.end();
  }
  return listenForTest(t, server);
}

t.test('a load answered as application/json: the content type expected and the one got', async (t) => {
  const url = await standin('json');
  const r = await check([url, '--model', MODEL]);
  t.equal(r.code, 1);
  t.equal(
    rows(r.stdout).get('load'),
    `fail POST ${url}/load_model: expected text/event-stream, got 200 application/json: {"status":"ready","model":"${MODEL}@main","cached":true}`,
  );
  t.match(
    rows(r.stdout).get('unknown-model'),
    /^fail expected text\/event-stream, got 200 application\/json: .* \(a stream ending in an error event was due\)$/,
  );
});

t.test('a finding on every frame of a stream: one line per stream, with its count', async (t) => {
  const url = await standin('growing-total');
  const r = await check([url, '--model', MODEL]);
  const lines = r.stdout.split('\n');
  const growing = lines.filter((l) => / note total-changed/.test(l));
  t.same(
    growing.map((l) => l.split(':')[0]?.trim()),
    ['load', 'concurrent', 'late-joiner'],
    'once for each of the three streams that saw it',
  );
  t.equal(
    growing[0],
    '  load: note total-changed, 9 times (frames 2–10), the first: download: total went from 200 to 300',
  );
  // A fresh stand-in: on this one the model is resident now, and a resident model answers one frame.
  const fresh = await standin('growing-total');
  const report = JSON.parse((await check([fresh, '--model', MODEL, '--json'])).stdout) as CheckReport;
  const load = report.results.find((row) => row.id === 'load');
  t.match(
    load?.findings.filter((f) => f.rule === 'total-changed'),
    [{ severity: 'note', count: 9, firstFrame: 2, lastFrame: 10 }],
    'in the JSON too: one entry, its count and its first and last frame',
  );
});

t.test('--help: --unload, and what check leaves alone', async (t) => {
  const r = await check(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /--unload +when MODEL is already in server memory, unload it first/);
  t.match(r.stdout, /If MODEL is already in server memory, check leaves it there/);
  t.match(r.stdout, /A server that cannot be reached is one failing line/);
  const both = await check(['http://127.0.0.1:1', '--model', MODEL, '--unload', '--keep-resident']);
  t.equal(both.code, 2);
  t.match(both.stderr, /--unload and --keep-resident contradict each other/);
  const accessOnly = await check(['http://127.0.0.1:1', '--access-only', '--unload']);
  t.equal(accessOnly.code, 2);
  t.match(accessOnly.stderr, /--access-only unloads nothing: leave out --unload/);
});
