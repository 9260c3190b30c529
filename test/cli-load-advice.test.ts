// `modeldeck load` advises a shell: flags and exit statuses, never the dashboard's keys or its reconnecting. Run as
// a user runs it (the compiled bin in a child process) against real servers, and a small stand-in for an error the
// real server gives only under load (MODELS_BUSY).
import { spawn } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { failureHint, type Failure, type FailureKind } from '../src/client/failures.js';
import { closedPort } from './helpers/closed-port.js';
import { demoModelsDir } from './helpers/demo.js';
import { modeldeckBin } from './helpers/repo.js';
import { startTestMirror, startTestServer, type TestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { listenForTest } from './helpers/loopback.js';
import { untracked } from './helpers/untracked.js';

const MODEL = 'modeldeck/tiny-chat';

/** Words that belong to the dashboard: its keys, its automatic retries, its config file. */
const DASHBOARD_WORDS = /reconnect|retrying|until it is back|\b[rRuUcC] (loads|checks)|\([UuCc]\)|dashboard|--config/;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts the bin; `done` resolves when it exits, `stdout()` reads what it printed so far. */
function start(args: string[]): { done: Promise<Run>; stdout: () => string } {
  const [command, argv] = untracked(process.execPath, [modeldeckBin, ...args]);
  const child = spawn(command, argv, {
    env: { ...process.env, MODELDECK_API_KEY: '' },
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { done, stdout: () => stdout };
}

const run = (args: string[]): Promise<Run> => start(args).done;

/** No dashboard advice, and the message names what happened. */
function shellOnly(t: Test, r: Run, what: string): void {
  t.notMatch(r.stderr, DASHBOARD_WORDS, `${what}: no dashboard advice`);
  t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

const mirror = await startTestMirror(await demoModelsDir(), { throttle: 150_000 });
t.teardown(() => mirror.close());

/** A load under way on `server`, by the bin: resolves once the server is loading it. */
async function loadUnderWay(server: TestServer): Promise<{ done: Promise<Run> }> {
  const child = start(['load', '--server', server.url, MODEL]);
  await until(
    'the load to be under way',
    () => server.manager.loadingRefs().length > 0 && /download/.test(child.stdout()),
  );
  return child;
}

t.test('a dead server: exit 1, and what to check, not "reconnecting"', async (t) => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const r = await run(['load', '--server', url, MODEL]);
  t.equal(r.code, 1);
  t.equal(
    r.stderr,
    `modeldeck: load failed: cannot reach ${url}: ECONNREFUSED ` +
      '(check --server and that the server is running, then run the command again)\n',
  );
  shellOnly(t, r, 'dead server');
});

t.test(
  'a load cancelled by another client: exit 3, run the command again to resume, not "r loads again"',
  async (t) => {
    const server = await startTestServer({ hubUrl: mirror.url });
    t.teardown(() => server.close());
    const child = await loadUnderWay(server);
    const cancel = await fetch(`${server.url}/unload_model`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL }),
    });
    t.equal(cancel.status, 200, 'cancelled on the server');
    const r = await child.done;
    t.equal(r.code, 3);
    t.match(
      r.stderr,
      /^modeldeck: load cancelled: .+ \(another client cancelled it with POST \/unload_model or \/reset; the files fetched are kept, so running the command again resumes\)\n$/,
    );
    shellOnly(t, r, 'cancelled');
  },
);

t.test(
  'the server stops mid-load: exit 1, run it again once it is back, not "reconnecting until it is back"',
  async (t) => {
    const server = await startTestServer({ hubUrl: mirror.url });
    const child = await loadUnderWay(server);
    await server.close();
    const r = await child.done;
    t.equal(r.code, 1);
    // The server's own words depend on the step it stopped (a download, the weights); the advice is the client's.
    t.match(
      r.stderr,
      /^modeldeck: load failed: .+ \(the server is stopping: run the command again once it is back; the files fetched are kept\)\n$/,
    );
    shellOnly(t, r, 'shutdown');
  },
);

t.test('a keyed server without a key: the flag and the variable to use, not the dashboard config', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url, apiKey: 'sk-advice-1' });
  t.teardown(() => server.close());
  const r = await run(['load', '--server', server.url, MODEL]);
  t.equal(r.code, 1);
  t.match(r.stderr, /HTTP 401 .*\(the server needs a valid API key: pass --api-key KEY or set MODELDECK_API_KEY\)\n$/);
  shellOnly(t, r, '401');
});

/** A server that answers `/load_model` with `body`'s frames, then ends the stream. */
async function scripted(body: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => body(res));
  });
  return listenForTest(t, server);
}

t.test('no room (MODELS_BUSY): exit 4, run it again later, not "U in the dashboard"', async (t) => {
  const url = await scripted((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(
      `data: ${JSON.stringify({ status: 'error', model: 'o/m@main', message: 'cannot load o/m@main: the server holds its maximum of 1 model (--max-models)', code: 'MODELS_BUSY' })}\n\n`,
    );
  });
  const r = await run(['load', '--server', url, 'o/m']);
  t.equal(r.code, 4);
  t.match(r.stderr, /\(no room on the server: run the command again once a model is idle or unloaded\)\n$/);
  shellOnly(t, r, 'MODELS_BUSY');
});

t.test('a stream cut short: exit 1, running it again is safe, not "reconnecting"', async (t) => {
  const url = await scripted((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('data: {"status": "loading", "model": "o/m@main", "stage": "processor"}\n\n');
  });
  const r = await run(['load', '--server', url, 'o/m']);
  t.equal(r.code, 1);
  t.equal(
    r.stderr,
    'modeldeck: load failed: stream ended before ready (the server closed the stream mid-load; running the command ' +
      'again is safe and resumes the download)\n',
  );
  shellOnly(t, r, 'ended early');
});

t.test('--help says it asks once, and what each exit status means, without dashboard keys', async (t) => {
  const r = await run(['load', '--help']);
  t.equal(r.code, 0);
  // Fitted to 80 columns: read as one line.
  const text = r.stdout.replace(/\s+/g, ' ');
  t.match(text, /It asks once and does not reconnect/);
  t.match(text, /3 when the load was cancelled on the server \(POST \/unload_model or \/reset, by any client;/);
  t.notMatch(r.stdout, /dashboard|\bc key\b/);
});

t.test("every failure's shell hint is free of the dashboard's words; the dashboard keeps its own", async (t) => {
  const kinds: FailureKind[] = ['http', 'network', 'ended-early', 'server', 'protocol', 'aborted', 'read-only'];
  const failures: Failure[] = [
    ...kinds.map((kind) => ({ kind, message: 'x' })),
    ...[400, 401, 403, 404, 422, 429, 500, 502, 503, 504].map((status) => ({
      kind: 'http' as const,
      message: 'x',
      status,
    })),
    ...['ABORTED', 'CANCELLED', 'MODELS_BUSY', 'MODEL_NOT_FOUND'].map((code) => ({
      kind: 'server' as const,
      message: 'x',
      code,
    })),
    { kind: 'network', message: 'x', code: 'BAD_PORT' },
  ];
  for (const failure of failures) {
    const label = `${failure.kind} ${failure.status ?? failure.code ?? ''}`;
    t.notMatch(failureHint(failure, 'shell'), DASHBOARD_WORDS, `${label}: shell`);
  }
  const dashboard = (f: Failure): string => failureHint(f, 'dashboard');
  t.match(dashboard({ kind: 'server', message: 'x', code: 'CANCELLED' }), /r loads again/);
  t.match(dashboard({ kind: 'server', message: 'x', code: 'MODELS_BUSY' }), /U in the dashboard/);
  t.match(dashboard({ kind: 'network', message: 'x' }), /reconnecting/);
});
