import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import type { CheckReport } from '../src/client/check/conformance.js';
import { runCheckCommand } from '../src/cli/check.js';
import { main } from '../src/cli/main.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

// `modeldeck check` asks a real server which routes a key may use, and must change nothing while it asks.
const MODEL = 'modeldeck/tiny-chat';
const FULL = 'sk-check-full-5e1b';
const WATCH = 'wk-check-watch-c07d';

const mirror = await startTestMirror(await demoModelsDir());
const server = await startTestServer({ hubUrl: mirror.url, apiKey: FULL, watchKeys: [WATCH], heartbeatMs: 100 });
t.teardown(async () => {
  await server.close();
  await mirror.close();
});

/** Runs the command with its output captured. */
async function check(argv: string[]): Promise<{ status: number; out: string }> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const status = await runCheckCommand(argv, { stdout, env: {} });
  return { status, out };
}

/** The server loaded nothing, and no load is under way. */
function nothingLoaded(t: Test, what: string): void {
  t.same(server.manager.residentRefs(), [], `${what}: no model resident`);
  t.same(server.manager.loadingRefs(), [], `${what}: no load under way`);
}

t.test('a watch key: the routes it may use, listed; the checks that need the full key are n/a', async (t) => {
  const { status, out } = await check([server.url, '--model', MODEL, '--api-key', WATCH]);
  t.equal(status, 0, 'exit 0: nothing failed');
  t.match(
    out,
    /^access +pass +a watch key, which may only read: GET \/v1\/models, GET \/events, GET \/metrics, GET \/cache; 7 route\(s\) answered 403 PERMISSION_DENIED$/m,
  );
  t.match(out, /^Routes for this key \(each asked with a GET, which changes nothing/m, 'a section of routes');
  t.match(out, /^ROUTE +NEEDS +THIS KEY +ANSWER TO A GET$/m);
  t.match(out, /^GET {2}\/health +open +yes +200$/m);
  t.match(out, /^GET {2}\/v1\/models +watch +yes +200$/m);
  t.match(out, /^GET {2}\/events +watch +yes +200$/m);
  for (const path of ['/load_model', '/unload_model', '/reset', '/v1/chat/completions', '/v1/completions']) {
    t.match(out, new RegExp(`^POST ${path} +full +no +403 PERMISSION_DENIED$`, 'm'), `${path}: refused`);
  }
  for (const id of [
    'load',
    'concurrent',
    'late-joiner',
    'second-load',
    'unknown-model',
    'bad-request',
    'chat-stream',
  ]) {
    t.match(
      out,
      new RegExp(`^${id} +n/a +this key may not use POST /load_model \\(403 PERMISSION_DENIED; see access\\)$`, 'm'),
      `${id}: n/a, with why`,
    );
  }
  t.match(out, /^models +pass +/m, 'the reading check runs');
  t.notOk(out.includes(WATCH), 'the key is not printed');
  nothingLoaded(t, 'a watch key');
});

t.test('the full key, --access-only: every route, and nothing loaded or unloaded', async (t) => {
  const { status, out } = await check([server.url, '--access-only', '--api-key', FULL, '--json']);
  t.equal(status, 0);
  const report = JSON.parse(out) as CheckReport;
  t.equal(report.model, null, 'no model');
  t.same(
    report.results.map((r) => [r.id, r.status]),
    [
      ['health', 'pass'],
      ['access', 'pass'],
    ],
    'only health and access run',
  );
  t.equal(report.results[1]?.reason, 'a full key: every route answered it');
  t.same(
    report.access?.routes.map((r) => `${r.method} ${r.path} ${r.verdict} ${r.status}`),
    [
      'GET /health allowed 200',
      'GET /ready allowed 200',
      'GET /v1/models allowed 200',
      'GET /events allowed 200',
      'GET /metrics allowed 200',
      'GET /cache allowed 200',
      'POST /load_model allowed 405',
      'POST /unload_model allowed 405',
      'POST /reset allowed 405',
      'POST /pull_model allowed 405',
      'POST /delete_model allowed 405',
      'POST /v1/chat/completions allowed 405',
      'POST /v1/completions allowed 405',
    ],
  );
  t.equal(report.access?.openWithoutKey, false, 'the server needs a key');
  nothingLoaded(t, 'the full key');

  const table = await check([server.url, '--access-only', '--api-key', FULL]);
  t.match(table.out, /^modeldeck check http:\/\/127\.0\.0\.1:\d+ --access-only$/m);
  t.match(table.out, /^POST \/reset +full +yes +405 METHOD_NOT_ALLOWED$/m);
});

t.test('no key where the server needs one: one failing line, not a pass, no route table', async (t) => {
  const { status, out } = await check([server.url, '--model', MODEL]);
  t.equal(status, 1, 'exit 1');
  t.match(
    out,
    /^access +fail +the server needs an API key and none was given \(401 MISSING_API_KEY on GET \/v1\/models\): pass --api-key KEY or set MODELDECK_API_KEY$/m,
  );
  t.notMatch(out, /Routes for this key/, 'no route table');
  t.match(out, /^health +pass/m, '/health needs no key');
  t.notMatch(out, /^(load|models) /m, 'the run stops there: the rest would be 401s');
  t.match(out, /^1 passed, 1 failed, 9 not run \(the server needs an API key\)$/m);
  nothingLoaded(t, 'no key');
});

t.test('a key the server does not have: the access check fails, saying so', async (t) => {
  const { status, out } = await check([server.url, '--access-only', '--api-key', 'sk-not-this-one']);
  t.equal(status, 1);
  t.match(out, /^access +fail +the server refused this key \(401 INVALID_API_KEY on GET \/v1\/models\)/m);
  t.match(out, /^POST \/load_model +full +no \(key refused\) +401 INVALID_API_KEY$/m, 'the table says why, per route');
});

t.test('an open server: the key given is not needed, and the report says so', async (t) => {
  const open = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => open.close());
  const withKey = await check([open.url, '--access-only', '--api-key', 'any-key']);
  t.equal(withKey.status, 0);
  t.match(withKey.out, /^access +pass +the server needs no key: every route answered it$/m);
  const without = await check([open.url, '--access-only']);
  t.match(without.out, /^access +pass +the server needs no key: every route answered without one$/m);
  t.notMatch(without.out, /Routes for this key/, 'no key given: one line');
});

t.test(
  'usage: --access-only needs no --model and takes none; a bad key is refused like the server refuses it',
  async (t) => {
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (stderr.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      t.equal(await main(['check', 'http://x', '--access-only', '--model', MODEL]), 2);
      t.equal(await main(['check', 'http://x', '--access-only', '--api-key', 'has space']), 2);
      t.equal(await main(['check', 'http://x', '--access-only', '--api-key', '']), 2);
    } finally {
      process.stderr.write = write;
    }
    t.match(stderr[0], /--access-only loads no model: leave out --model/);
    t.match(stderr[1], /--api-key has a space/);
    t.match(stderr[2], /--api-key is empty/);
    const help = await check(['--help']);
    t.match(help.out, /--access-only +only ask which routes the key may use/);
  },
);
