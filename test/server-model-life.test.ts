// A model's life on the feed, complete (issue 21): the live `ready` carries the model's size; when the idle timeout
// will unload a resident model is one value, shown by GET /v1/models and the snapshot (`expires_at`,
// `expires_in_ms`) and told on the feed (`expiry`) whenever it moves; watching never counts as use; and every way a
// model leaves memory, or a load ends by a deliberate act, reaches the feed as an `unload` with its reason.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import type { ExpiryPayload, FeedEvent, FeedModel } from '../src/protocol/feed.js';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-life-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

function post(url: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function listed(url: string): Promise<Record<string, unknown>[]> {
  return ((await (await fetch(`${url}/v1/models`)).json()) as { data: Record<string, unknown>[] }).data;
}

const expiries = (events: readonly FeedEvent[]): ExpiryPayload[] =>
  events.flatMap((e) => (e.event === 'expiry' ? [e.data] : []));

t.test('expiry: one value, shown by every view, told when it moves, never moved by watching', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-life-cache-'));
  // Started as `modeldeck serve --model-timeout 4` starts it.
  const config = resolveServeConfig(['--hub-url', mirror.url, '--cache-dir', cacheDir, '--model-timeout', '4'], {
    HF_HOME: join(cacheDir, 'no-hf-home'),
  });
  if (!config) throw new Error('no config');
  const server = await startServer({ ...serverOptions(config), port: 0, logger: false });
  t.teardown(async () => {
    await server.close();
    await rm(cacheDir, { recursive: true, force: true });
  });
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());

  const load = await loadModel(server.url, MODEL);
  const ready = load.events.at(-1);
  t.match(ready, { status: 'ready', cached: false, size_bytes: Number, dtype: 'fp32' }, 'ready says the size');
  const onFeed = await feed.waitFor('ready on the feed', (e) => e.event === 'load' && e.data.status === 'ready');
  t.strictSame(onFeed.data, ready, 'the live ready on the feed carries it too');
  const first = await feed.waitFor('the first expiry', (e) => e.event === 'expiry');
  t.ok(feed.events.indexOf(first) > feed.events.indexOf(onFeed), 'the first expiry comes right after ready');
  const expiry = first.event === 'expiry' ? first.data : undefined;
  t.match(expiry, { model: KEY, expires_at: String, expires_in_ms: Number });
  t.ok((expiry?.expires_in_ms ?? 0) <= 4000 && (expiry?.expires_in_ms ?? 0) > 0, 'within the timeout');

  // Watching, polling and listing: none of it is use.
  const seen = new Set<unknown>();
  const snapshots: FeedModel[] = [];
  for (let i = 0; i < 5; i++) {
    const entry = (await listed(server.url)).find((m) => m['id'] === KEY);
    t.match(entry, { status: 'loaded', expires_at: String, expires_in_ms: Number }, `GET /v1/models, read ${i + 1}`);
    seen.add(entry?.['expires_at']);
    const watcher = await watchFeed(server.url);
    const snapshot = await watcher.waitFor('a snapshot', (e) => e.event === 'snapshot');
    watcher.close();
    const model = snapshot.event === 'snapshot' ? snapshot.data.models.find((m) => m.model === KEY) : undefined;
    if (model !== undefined) snapshots.push(model);
    seen.add(model?.expires_at);
  }
  t.strictSame([...seen], [expiry?.expires_at], 'every read gives the same expires_at: reading moved nothing');
  t.equal(snapshots.length, 5, 'five snapshots showed the model');
  t.equal(expiries(feed.events).length, 1, 'and the feed told of no move');

  // A chat is use: paused while it generates, then a later expiry.
  const chat = await post(server.url, '/v1/chat/completions', {
    model: MODEL,
    max_tokens: 4,
    messages: [{ role: 'user', content: 'hi' }],
  });
  t.equal(chat.status, 200);
  await chat.json();
  const end = await feed.waitFor('chat_end', (e) => e.event === 'chat_end');
  const after = await until('an expiry after chat_end', () =>
    feed.events.slice(feed.events.indexOf(end)).find((e) => e.event === 'expiry'),
  );
  const start = feed.events.findIndex((e) => e.event === 'chat_start');
  const before = expiries(feed.events.slice(0, start));
  t.match(before.at(-1), { expires_at: null, expires_in_ms: null }, 'paused while it generates');
  t.ok(
    after.event === 'expiry' && after.data.expires_at !== null && expiry?.expires_at !== undefined,
    'an expiry after the reply',
  );
  if (after.event === 'expiry' && after.data.expires_at !== null && expiry?.expires_at) {
    t.ok(Date.parse(after.data.expires_at) > Date.parse(expiry.expires_at), 'later than the first');
  }

  // Watched all along, polled every 200 ms: the idle timeout still unloads it.
  let polls = 0;
  const unload = await until(
    'the idle unload',
    async () => {
      polls++;
      await listed(server.url);
      return feed.events.find((e) => e.event === 'unload');
    },
    60_000,
  );
  t.match(unload, { data: { model: KEY, reason: 'idle' } }, `unloaded for idleness though polled ${polls} times`);
  t.notOk(
    (await listed(server.url)).some((m) => m['status'] === 'loaded'),
    'gone from memory',
  );
});

t.test('no idle timeout: expires_at null, and a chat moves nothing the wire can tell', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, idleTimeoutMs: 0 });
  t.teardown(() => server.close());
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  const load = loadModel(server.url, 'org/m');
  (await gated.loadStarted('org/m@main')).release();
  t.match((await load).events.at(-1), { status: 'ready', size_bytes: null }, 'a size not known is null');
  t.match(
    (await listed(server.url)).find((m) => m['id'] === 'org/m@main'),
    { expires_at: null, expires_in_ms: null },
  );
  const chat = post(server.url, '/v1/chat/completions', { model: 'org/m', messages: [{ role: 'user', content: 'x' }] });
  (await gated.generationStarted()).release();
  await (await chat).json();
  await feed.waitFor('chat_end', (e) => e.event === 'chat_end');
  t.strictSame(
    expiries(feed.events),
    [{ model: 'org/m@main', expires_at: null, expires_in_ms: null }],
    'only after ready',
  );
});

t.test(
  'every way a model leaves memory or a load ends by a deliberate act reaches the feed with its reason',
  async (t) => {
    const gated = gatedLoader();
    const server = await startServer({ loader: gated.loader, maxModels: 2, maxLoads: 1 });
    let closed = false;
    t.teardown(() => (closed ? undefined : server.close()));
    const feed = await watchFeed(server.url);
    t.teardown(() => feed.close());
    // The server's close ends the feed's connection under it.
    feed.ended.catch(() => undefined);
    const loaded = async (id: string): Promise<void> => {
      const stream = loadModel(server.url, id);
      (await gated.loadStarted(`${id}@main`)).release();
      t.match((await stream).events.at(-1), { status: 'ready' }, `${id} loaded`);
    };
    const reasons = (): string[] =>
      feed.events.flatMap((e) => (e.event === 'unload' ? [`${e.data.model} ${e.data.reason}`] : []));

    await loaded('org/a');
    t.equal((await post(server.url, '/unload_model', { model: 'org/a' })).status, 200);
    await loaded('org/b');
    await loaded('org/c');
    await loaded('org/d'); // the third of two slots: org/b, used least recently, is evicted
    const running = loadModel(server.url, 'org/e'); // c evicted for it; it runs, holding the one load slot
    await gated.loadStarted('org/e@main');
    t.equal((await post(server.url, '/unload_model', { model: 'org/e' })).status, 200, 'cancelled while it ran');
    t.match((await running).events.at(-1), { code: 'CANCELLED', message: /POST \/unload_model/ });
    await until('four unloads', () => reasons().length >= 4);
    t.strictSame(reasons(), ['org/a@main request', 'org/b@main evicted', 'org/c@main evicted', 'org/e@main cancelled']);

    const f = loadModel(server.url, 'org/f'); // d and f hold the two model slots; f runs in the one load slot
    await gated.loadStarted('org/f@main');
    const g = loadModel(server.url, 'org/g'); // d, idle, is evicted for it; it waits for the load slot
    await until('g waits its turn', () =>
      server.manager.models().some((m) => m.model === 'org/g@main' && m.stage === 'queued'),
    );
    const reset = await post(server.url, '/reset', {});
    t.equal(reset.status, 200);
    t.strictSame(await reset.json(), { status: 'ok', unloaded: [], cancelled: ['org/f@main', 'org/g@main'] });
    for (const [name, stream] of [
      ['f', f],
      ['g', g],
    ] as const) {
      t.match((await stream).events.at(-1), { status: 'error', code: 'CANCELLED', message: /POST \/reset/ }, name);
    }

    await loaded('org/h');
    const last = loadModel(server.url, 'org/i');
    await gated.loadStarted('org/i@main');
    closed = true;
    await server.close();
    t.match((await last).events.at(-1), { status: 'error', code: 'ABORTED' });
    await until('the shutdown unloads', () => reasons().filter((r) => r.endsWith('shutdown')).length >= 2);
    const rest = reasons().slice(4);
    t.strictSame(rest.slice(0, 1), ['org/d@main evicted']);
    t.strictSame(
      rest.slice(1, 3).sort(),
      ['org/f@main reset', 'org/g@main reset'],
      'a reset cancels running and waiting loads',
    );
    t.strictSame(
      rest.slice(3),
      ['org/i@main shutdown', 'org/h@main shutdown'],
      'the load under way, then the resident model',
    );
    t.strictSame(gated.aborted.sort(), ['org/e@main', 'org/f@main', 'org/i@main'], 'each load it ended was aborted');
  },
);
