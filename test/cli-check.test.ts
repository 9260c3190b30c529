import { PassThrough } from 'node:stream';
import t from 'tap';
import { CHECKS, runConformance, type CheckReport, type CheckStatus } from '../src/client/check/conformance.js';
import { formatCheckTable } from '../src/client/check/report.js';
import { runCheckCommand } from '../src/cli/check.js';
import { main } from '../src/cli/main.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { startUpstreamStandin } from './helpers/upstream-standin.js';
import { closedPort } from './helpers/closed-port.js';

const MODEL = 'modeldeck/tiny-chat';

/** Runs the command with its output captured. */
async function check(argv: string[]): Promise<{ status: number; out: string }> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const status = await runCheckCommand(argv, { stdout, env: {} });
  return { status, out };
}

const statuses = (report: CheckReport): Record<string, CheckStatus> =>
  Object.fromEntries(report.results.map((r) => [r.id, r.status]));

t.test('against the real modeldeck server: everything passes, held to its own promises', async (t) => {
  const mirror = await startTestMirror(await demoModelsDir(), { throttle: 1_000_000 });
  t.teardown(() => mirror.close());
  const server = await startTestServer({ hubUrl: mirror.url, heartbeatMs: 100, apiKey: 'sekret' });
  t.teardown(() => server.close());

  const { status, out } = await check([
    `${server.url}/v1`,
    '--model',
    MODEL,
    '--api-key',
    'sekret',
    '--json',
    '--strict',
    // The server beats every 100 ms; judging at 1 s (a gap over 2 s is a miss) keeps a busy CI machine's scheduling
    // jitter from reading as a missed heartbeat, while a server that sent none would still fail.
    '--heartbeat',
    '1',
  ]);
  const report = JSON.parse(out) as CheckReport;
  t.equal(status, 0, 'exit status 0');
  t.ok(report.ok);
  t.same(
    report.results.filter((r) => r.status === 'fail'),
    [],
    'no check failed',
  );
  const got = statuses(report);
  for (const id of [
    'health',
    'access',
    'load',
    'concurrent',
    'second-load',
    'unknown-model',
    'bad-request',
    'chat-stream',
    'models',
  ]) {
    t.equal(got[id], 'pass', `${id} passes: ${report.results.find((r) => r.id === id)?.reason}`);
  }
  t.equal(report.results.find((r) => r.id === 'access')?.reason, 'a full key: every route answered it');
  t.match(report.results.find((r) => r.id === 'load')?.reason, /processor → config → download → weights → ready/);
  t.match(report.results.find((r) => r.id === 'chat-stream')?.reason, /then \[DONE\]/);
  t.match(report.results.find((r) => r.id === 'unknown-model')?.reason, /MODEL_NOT_FOUND/);
  t.same(
    report.results.flatMap((r) => r.findings),
    [],
    'the lint found nothing on any stream',
  );
  t.equal(got['heartbeats'], 'pass', `heartbeats: ${report.results.find((r) => r.id === 'heartbeats')?.reason ?? ''}`);

  // Run again: the model is resident now, so --unload unloads it to watch a real load.
  const again = await check([server.url, '--model', MODEL, '--api-key', 'sekret', '--unload']);
  t.equal(again.status, 0, 'a second run passes too');
  t.match(
    again.out,
    /^load +pass +processor → config → weights → ready/m,
    'a load from the disk cache after unloading',
  );
  t.match(again.out, /^CHECK +RESULT +REASON$/m, 'a table');
  t.match(again.out, /passed, 0 failed/);
});

t.test('against the upstream stand-in: no false failures; its differences are n/a or notes', async (t) => {
  const upstream = await startUpstreamStandin({ models: [MODEL], frameMs: 20, quietMs: 300 });
  t.teardown(() => upstream.close());
  const report = await runConformance({ server: upstream.url, model: MODEL, heartbeatMs: 100 });
  t.same(
    report.results.filter((r) => r.status === 'fail').map((r) => `${r.id}: ${r.reason}`),
    [],
    'no failures',
  );
  const got = statuses(report);
  t.match(
    report.results.find((r) => r.id === 'access'),
    {
      status: 'pass',
      reason:
        // The stand-in answers GET /load_model as FastAPI does (405: the route exists for POST), so that row answered.
        /^the server needs no key: 2 of 11 routes answered without one; 9 could not be told \(GET \/events 404, GET \/metrics 404, GET \/cache 404,/,
    },
    'no key, and none needed; the routes it lacks are told apart from refusals',
  );
  t.equal(got['concurrent'], 'pass', 'the first load was fresh: two subscribers shared it');
  t.match(report.results.find((r) => r.id === 'heartbeats')?.reason, /no heartbeats.*upstream sends none/);
  t.equal(got['heartbeats'], 'n/a');
  t.match(report.results.find((r) => r.id === 'chat-stream')?.reason, /no \[DONE\] \(as upstream\)/);
  t.match(report.results.find((r) => r.id === 'unknown-model')?.reason, /no code: upstream sends none/);
  t.match(report.results.find((r) => r.id === 'bad-request')?.reason, /malformed JSON → 422, no "model" → 422/);
  const notes = new Set(report.results.flatMap((r) => r.findings.map((f) => `${f.severity} ${f.rule}`)));
  t.same([...notes].sort(), ['note no-heartbeat', 'note total-changed', 'note total-null'], 'only notes');

  const again = await runConformance({ server: upstream.url, model: MODEL, heartbeatMs: 100, unload: true });
  t.ok(again.ok, 'a second run passes too');
  t.match(
    again.results.find((r) => r.id === 'concurrent'),
    { status: 'n/a', reason: /already in server memory \(--unload: POST \/unload_model answered 404\)/ },
    'resident, and no /unload_model upstream: the concurrency checks do not apply',
  );
  t.same(again.residency, { state: 'unload-refused', answer: '404' });
  t.match(
    formatCheckTable(again),
    /^The model was resident: --unload asked the server to unload it, and POST \/unload_model answered 404\.$/m,
    'the report says --unload could not unload it',
  );

  const fresh = await startUpstreamStandin({ models: [MODEL], frameMs: 20, quietMs: 300 });
  t.teardown(() => fresh.close());
  const strict = await runConformance({ server: fresh.url, model: MODEL, heartbeatMs: 100, strict: true });
  t.notOk(strict.ok, "held to modeldeck's own promises, upstream fails some");
  t.same(
    strict.results.filter((r) => r.status === 'fail').map((r) => r.id),
    ['load', 'concurrent', 'late-joiner', 'heartbeats', 'chat-stream'],
    'the growing total, the missing heartbeats and the missing [DONE]',
  );
  t.match(strict.results.find((r) => r.id === 'load')?.reason, /^total-changed: /);
});

t.test('a fresh upstream load: concurrent subscribers and a late joiner', async (t) => {
  const upstream = await startUpstreamStandin({ models: [MODEL], frameMs: 20 });
  t.teardown(() => upstream.close());
  const report = await runConformance({ server: upstream.url, model: MODEL });
  const got = statuses(report);
  t.equal(got['load'], 'pass', report.results[1]?.reason ?? '');
  t.equal(got['concurrent'], 'pass');
  t.equal(got['late-joiner'], 'pass', report.results.find((r) => r.id === 'late-joiner')?.reason ?? '');
  t.equal(got['second-load'], 'pass');
  t.ok(report.ok);
});

t.test('a server that breaks a promise: the rule is named, the exit status is 1', async (t) => {
  const broken = await startUpstreamStandin({ models: [MODEL], breaks: 'progress-backwards' });
  t.teardown(() => broken.close());
  const { status, out } = await check([broken.url, '--model', MODEL]);
  t.equal(status, 1);
  t.match(out, /^load +fail +progress-backwards: weights: current went from 136 back to 100/m);
  t.match(out, /fault progress-backwards \(frame \d+\)/, 'the finding is listed with its frame');

  const cut = await startUpstreamStandin({ models: [MODEL], breaks: 'no-terminal' });
  t.teardown(() => cut.close());
  const report = await runConformance({ server: cut.url, model: MODEL });
  t.match(
    report.results.find((r) => r.id === 'load'),
    { status: 'fail', reason: /^no-terminal: / },
  );
  t.equal(statuses(report)['second-load'], 'n/a', 'nothing to reload');

  const noRole = await startUpstreamStandin({ models: [MODEL], breaks: 'chat-no-role' });
  t.teardown(() => noRole.close());
  const chat = await runConformance({ server: noRole.url, model: MODEL });
  t.match(
    chat.results.find((r) => r.id === 'chat-stream'),
    { status: 'fail', reason: /no delta.role "assistant"/ },
  );
});

t.test('a server that cannot be reached fails health, with the reason, and nothing else is tried', async (t) => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const report = await runConformance({ server: url, model: MODEL, timeoutMs: 5000 });
  t.notOk(report.ok);
  t.same(
    report.results.map((r) => [r.id, r.status, r.reason]),
    [
      [
        'health',
        'fail',
        `cannot reach ${url}: connection refused (ECONNREFUSED); is the server running, and is the URL right?`,
      ],
    ],
  );
  t.same(report.stopped, {
    reason: 'the server cannot be reached',
    notRun: CHECKS.map(([id]) => id).filter((id) => id !== 'health'),
  });
});

t.test('usage errors exit 2 with a message; --help exits 0', async (t) => {
  const stderr: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => (stderr.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    t.equal(await main(['check']), 2);
    t.equal(await main(['check', 'http://x']), 2);
    t.equal(await main(['check', 'ftp://x', '--model', MODEL]), 2);
    t.equal(await main(['check', 'http://x', '--model', '../etc']), 2);
    t.equal(await main(['check', 'http://x', '--model', MODEL, '--timeout', '0']), 2);
  } finally {
    process.stderr.write = write;
  }
  t.match(stderr[0], /check needs a URL/);
  t.match(stderr[1], /check needs --model/);
  t.match(stderr[2], /URL must be an http/);
  t.match(stderr[3], /--model: model id/);
  t.match(stderr[4], /--timeout must be more than 0/);
  const help = await check(['--help']);
  t.equal(help.status, 0);
  t.match(help.out, /Usage: modeldeck check URL --model MODEL/);
});
