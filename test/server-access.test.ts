import { readFile } from 'node:fs/promises';
import OpenAI from 'openai';
import t from 'tap';
import { ROUTE_ACCESS, routeAccess } from '../src/protocol/access.js';
import { buildApp } from '../src/server/app.js';
import { createLoadManager } from '../src/server/load-manager.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { repoPath } from './helpers/repo.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;
const FULL = 'sk-full-7f3a9c21';
const WATCH = 'wk-watch-51d2e8aa';
const WATCH2 = 'wk-other-0b44c1';
const SECRETS = [FULL, WATCH, WATCH2];

// Everything the server logs, at the most verbose level, to show that no key is ever written there.
const logLines: string[] = [];
const logStream = {
  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line !== '') logLines.push(line);
  },
};

const mirror = await startTestMirror(await demoModelsDir());
const server = await startTestServer({
  hubUrl: mirror.url,
  apiKey: FULL,
  watchKeys: [WATCH, WATCH2],
  logger: { level: 'trace', stream: logStream },
});
t.teardown(async () => {
  await server.close();
  await mirror.close();
});
// A watch key's feed, open through every test below: it must see what happens, and never a key.
const feed = await watchFeed(server.url, { headers: { authorization: `Bearer ${WATCH}` } });
t.teardown(() => feed.close());

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

interface Call {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
}

function call(route: Call, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${route.path}`, {
    method: route.method,
    headers: { ...(route.body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(route.body !== undefined ? { body: JSON.stringify(route.body) } : {}),
  });
}

// Every write route with a body it would act on, were the key allowed to: a refusal must come before any of it.
const WRITES: readonly Call[] = [
  { method: 'POST', path: '/load_model', body: { model: MODEL } },
  { method: 'POST', path: '/unload_model', body: { model: MODEL, force: true } },
  { method: 'POST', path: '/reset', body: { force: true } },
  { method: 'POST', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] } },
  { method: 'POST', path: '/v1/completions', body: { model: MODEL, prompt: 'Once', max_tokens: 2 } },
];
const READS: readonly Call[] = [
  { method: 'GET', path: '/v1/models' },
  { method: 'HEAD', path: '/v1/models' },
  { method: 'GET', path: '/health' },
];

t.test('the access table and the routes the server registers are the same, both ways', async (t) => {
  // printRoutes({commonPrefix: false}) lists each path with its methods: "├── /v1/models (GET, HEAD)".
  const printed = server.app.printRoutes({ commonPrefix: false });
  const registered = [...printed.matchAll(/(\/\S*) \(([A-Z, ]+)\)/g)].flatMap(([, path = '', methods = '']) =>
    methods.split(', ').map((method) => ({ method, path })),
  );
  t.ok(registered.length >= ROUTE_ACCESS.length, `${registered.length} routes registered`);
  for (const { method, path } of registered) {
    t.ok(routeAccess(method, path), `${method} ${path} has a row (${routeAccess(method, path)?.needs})`);
  }
  for (const row of ROUTE_ACCESS) {
    t.ok(server.app.hasRoute({ method: row.method, url: row.path }), `${row.method} ${row.path} is a route`);
  }
});

t.test("docs/protocol.md's keys table is the access table", async (t) => {
  const docs = await readFile(repoPath('docs', 'protocol.md'), 'utf8');
  // | `GET /v1/models` | watch | yes | yes | 401 |
  const rows = [...docs.matchAll(/^\| `(GET|POST) (\/\S*)` \| (open|watch|full) \| (.*) \|$/gm)].map(
    ([, method, path, needs, answers]) => ({ route: `${method} ${path}`, needs, answers }),
  );
  t.same(
    rows.map(({ route, needs }) => ({ route, needs })),
    ROUTE_ACCESS.map((row) => ({ route: `${row.method} ${row.path}`, needs: row.needs })),
    'every route, in order, with what it needs',
  );
  const expected = { open: 'yes | yes | yes', watch: 'yes | yes | 401', full: 'yes | 403 | 401' };
  for (const row of rows) t.equal(row.answers, expected[row.needs as keyof typeof expected], row.route);
});

t.test('a route without a row cannot be registered: the build fails naming the table', async (t) => {
  const manager = createLoadManager({ loader: gatedLoader().loader, maxLoads: 1 });
  const app = buildApp({ manager });
  t.teardown(() => app.close());
  t.throws(() => app.get('/not-in-table', async () => ({ status: 'ready' })), {
    message: /GET \/not-in-table has no row in ROUTE_ACCESS \(src\/protocol\/access\.ts\)/,
  });
});

t.test('a watch key reads: GET /v1/models, HEAD, /health and the feed', async (t) => {
  for (const key of [WATCH, WATCH2]) {
    for (const route of READS) {
      const res = await call(route, bearer(key));
      t.equal(res.status, 200, `${route.method} ${route.path} with a watch key: 200`);
      if (route.method === 'GET' && route.path === '/v1/models') {
        t.equal(((await res.json()) as { object?: string }).object, 'list', 'a model list');
      }
    }
  }
  t.equal(feed.status, 200, 'GET /events with a watch key: 200');
  await feed.waitFor('the snapshot', (e) => e.event === 'snapshot');
});

t.test('a watch key gets 403 PERMISSION_DENIED from every other route, naming what it lacks', async (t) => {
  for (const key of [WATCH, WATCH2]) {
    for (const route of WRITES) {
      const what = `${route.method} ${route.path} with a watch key`;
      const res = await call(route, bearer(key));
      t.equal(res.status, 403, `${what}: 403`);
      t.match(res.headers.get('content-type'), /^application\/json/, `${what}: JSON`);
      const text = await res.text();
      const body = JSON.parse(text) as { error: { message: string; type: string; code: string; param: null } };
      t.match(body.error, { type: 'permission_error', code: 'PERMISSION_DENIED', param: null }, `${what}: the code`);
      t.match(
        body.error.message,
        'this key may only read (a watch key: GET /health, GET /ready, GET /v1/models, GET /events, GET /metrics, GET /cache)',
      );
      t.match(
        body.error.message,
        `${route.method} ${route.path} needs the "full" permission, which only the server's full key (--api-key) has`,
        `${what}: names the route and the permission`,
      );
      for (const secret of SECRETS) t.notOk(text.includes(secret), `${what}: the body holds no key`);
    }
  }
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: WATCH, maxRetries: 0 });
  const refused = await openai.chat.completions
    .create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] })
    .then(
      () => null,
      (e: unknown) => e,
    );
  t.ok(refused instanceof OpenAI.PermissionDeniedError, 'the openai client gets PermissionDeniedError');
  t.same(server.manager.loadingRefs(), [], 'no refused request started a load');
  t.same(server.manager.residentRefs(), [], 'or loaded a model');
  t.same(
    mirror.requests.filter((r) => r.url.includes(MODEL)),
    [],
    'and the hub was never asked for the model',
  );
});

t.test(
  'the key is checked before the method: a GET on a write route says what a key may do, acting on nothing',
  async (t) => {
    const expect: [string, Record<string, string>, number, string][] = [
      ['no key', {}, 401, 'MISSING_API_KEY'],
      ['a wrong key', bearer('nope'), 401, 'INVALID_API_KEY'],
      ['a watch key', bearer(WATCH), 403, 'PERMISSION_DENIED'],
      ['the full key', bearer(FULL), 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const route of WRITES) {
      for (const [who, headers, status, code] of expect) {
        const res = await call({ method: 'GET', path: route.path }, headers);
        t.equal(res.status, status, `GET ${route.path} with ${who}: ${status}`);
        t.match(await res.json(), { error: { code } }, `GET ${route.path} with ${who}: ${code}`);
      }
    }
    const denied = (await (await call({ method: 'GET', path: '/reset' }, bearer(WATCH))).json()) as {
      error: { message: string };
    };
    t.match(denied.error.message, '/reset needs the "full" permission', 'a wrong method names the path');
    const wrongOnRead = await call({ method: 'POST', path: '/health', body: {} }, bearer(WATCH));
    t.equal(wrongOnRead.status, 405, 'a wrong method on a reading route with a watch key: 405');
    t.equal((await call({ method: 'POST', path: '/health', body: {} })).status, 401, 'and without a key: 401');
    t.equal((await call({ method: 'GET', path: '/nope' }, bearer(WATCH))).status, 404, 'an unknown path: 404');
    t.equal((await call({ method: 'GET', path: '/nope' })).status, 401, 'but not without a key');
    t.same(server.manager.residentRefs(), [], 'nothing was loaded');
  },
);

t.test('without a key, or with a wrong one, every route but /health is 401', async (t) => {
  for (const route of [...WRITES, { method: 'GET', path: '/v1/models' }, { method: 'GET', path: '/events' }]) {
    for (const [who, headers] of [
      ['no key', {}],
      ['a wrong key', bearer(`${WATCH}x`)],
    ] as const) {
      const res = await call(route, headers);
      t.equal(res.status, 401, `${route.method} ${route.path} with ${who}: 401`);
      const text = await res.text();
      for (const secret of SECRETS) t.notOk(text.includes(secret), 'the body holds no key');
    }
  }
  t.equal((await call({ method: 'GET', path: '/health' })).status, 200, '/health stays open');
});

t.test('the full key may use every route', async (t) => {
  const loaded = await loadModel(server.url, MODEL, { headers: bearer(FULL) });
  t.match(loaded.events.at(-1), { status: 'ready', model: KEY, cached: false }, 'POST /load_model loads');
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: FULL, maxRetries: 0 });
  const chat = await openai.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 3,
  });
  t.equal(chat.object, 'chat.completion', 'POST /v1/chat/completions chats');
  const completion = await openai.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 2 });
  t.equal(completion.object, 'text_completion', 'POST /v1/completions completes');
  const unloaded = await call({ method: 'POST', path: '/unload_model', body: { model: MODEL } }, bearer(FULL));
  t.same(await unloaded.json(), { status: 'unloaded', model: KEY }, 'POST /unload_model unloads');
  const reset = await call({ method: 'POST', path: '/reset', body: {} }, bearer(FULL));
  t.equal(reset.status, 200, 'POST /reset');
  for (const route of READS) t.equal((await call(route, bearer(FULL))).status, 200, `${route.method} ${route.path}`);
  const full = await watchFeed(server.url, { headers: bearer(FULL) });
  t.teardown(() => full.close());
  t.equal(full.status, 200, 'GET /events');
});

t.test('no key ever shows in the log, the feed or an error body', async (t) => {
  // The watch key's feed saw the full key's work: the load, the chats and the unload.
  await feed.waitFor('the unload', (e) => e.event === 'unload' && e.data.reason === 'request');
  t.ok(
    feed.events.some((e) => e.event === 'chat_end'),
    'the feed carried the chats',
  );
  const fed = JSON.stringify(feed.events);
  t.ok(logLines.length > 20, `${logLines.length} log lines, at trace level`);
  const logged = logLines.join('\n');
  t.match(logged, /"statusCode":403/, 'the refusals were logged');
  for (const secret of SECRETS) {
    t.notOk(logged.includes(secret), 'no key in the log');
    t.notOk(fed.includes(secret), 'no key in the feed');
  }
});
