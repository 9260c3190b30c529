// Pulls are first-class (issue 24, review): a download-only pull is in the feed (`pull` events, the snapshot's and
// /v1/models' `pulls`), takes a --max-loads slot as a load does (stage `queued`), goes on when its client leaves (as a
// load does) and is cancelled by POST /unload_model; and deleting from the cache is atomic with respect to loads: a
// load that comes while a deletion runs waits for it (`queued`, reason `deletion`) instead of losing its files. Real
// servers started as `modeldeck serve` starts them, the real mirror behind a gate that holds a model's hub requests,
// real loads, real SSE clients.
import { Writable } from 'node:stream';
import t from 'tap';
import { runPsCommand } from '../src/cli/ps.js';
import { parseLoadEvent, type LoadEvent } from '../src/protocol/events.js';
import { createSseParser } from '../src/protocol/sse.js';
import { deleteCachedRevision } from '../src/server/fetch/cache-inventory.js';
import { watchFeed } from './helpers/feed-client.js';
import { startGateProxy, type GateProxy } from './helpers/gate-proxy.js';
import { scrape } from './helpers/scrape.js';
import { loadModel } from './helpers/sse-client.js';
import { serveAsCommand, startTestServer, startTwinMirror, TWIN_A, TWIN_B } from './helpers/stack.js';
import { until } from './helpers/until.js';

const A = TWIN_A;
const B = TWIN_B;
const twins = await startTwinMirror('pull');
const mirror = twins.mirror;
t.teardown(() => twins.close());

/** A gate in front of the mirror holding every hub request for `model` (its API and its files) until opened. */
async function gateFor(t: { teardown(fn: () => Promise<void>): void }, model: string): Promise<GateProxy> {
  const name = `/${model.split('/')[1] ?? model}/`;
  const gate = await startGateProxy(mirror.url, (path) => path.includes(name));
  t.teardown(() => gate.close());
  return gate;
}

interface PullStream {
  readonly status: number;
  readonly events: LoadEvent[];
  /** Resolves once the stream ended (or the client left). */
  readonly done: Promise<void>;
  /** Leaves (disconnects). */
  leave(): void;
}

/** POSTs `/pull_model` and reads its event stream as it comes. */
async function pull(url: string, model: string): Promise<PullStream> {
  const controller = new AbortController();
  const res = await fetch(`${url}/pull_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model }),
    signal: controller.signal,
  });
  const events: LoadEvent[] = [];
  const parser = createSseParser({
    onEvent: ({ data }) => {
      const parsed = parseLoadEvent(data);
      if (!parsed.ok) throw new Error(`unreadable pull event ${data}`);
      events.push(parsed.event);
    },
  });
  const done = (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(chunk);
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  return { status: res.status, events, done, leave: () => controller.abort() };
}

async function post(url: string, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const stagesOf = (events: readonly LoadEvent[]): string[] =>
  events.map((e) => (e.status === 'loading' ? e.stage : e.status)).filter((s, i, all) => s !== all[i - 1]);

t.test('a pull is on the feed: its events, the snapshot’s and /v1/models’ pulls, then memory', async (t) => {
  const gate = await gateFor(t, A);
  const server = await serveAsCommand(t, gate.url, []);
  const feed = await watchFeed(server.url);
  t.teardown(async () => feed.close());
  const pulling = await pull(server.url, A);
  t.equal(pulling.status, 200);
  await until('the pull asked the hub', () => gate.held.length > 0);

  const late = await watchFeed(server.url);
  t.teardown(async () => late.close());
  const snapshot = await late.waitFor('a snapshot', (e) => e.event === 'snapshot');
  t.match(
    snapshot.event === 'snapshot' ? snapshot.data : undefined,
    { pulls: [{ model: `${A}@main`, stage: 'processor', subscribers: 1 }], memory: { rss_bytes: Number } },
    'a watcher that comes during the pull sees it in the snapshot',
  );
  t.notOk(
    snapshot.event === 'snapshot' && snapshot.data.models.some((m) => m.model === `${A}@main`),
    'and not as a model loading into memory',
  );
  const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as { pulls: unknown[]; data: unknown[] };
  t.match(listed.pulls, [{ model: `${A}@main`, stage: 'processor' }], 'GET /v1/models lists it under pulls');
  let out = '';
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  t.equal(await runPsCommand(['--server', server.url, '--json'], { stdout, env: {} }), 0);
  t.match(JSON.parse(out), { servers: [{ models: [{ model: `${A}@main`, state: 'pulling', stage: 'processor' }] }] });

  gate.open();
  await pulling.done;
  t.match(pulling.events.at(-1), { status: 'ready', cached: false });
  await feed.waitFor('the pull’s ready', (e) => e.event === 'pull' && e.data.status === 'ready');
  const onFeed = feed.events.flatMap((e) => (e.event === 'pull' ? [e.data] : []));
  t.strictSame(onFeed, pulling.events, 'the feed carries the pull’s own frames, as `pull` events');
  t.notOk(
    feed.events.some((e) => e.event === 'load' || e.event === 'unload'),
    'no `load` (a watcher would take its ready for a resident model) and no `unload`',
  );
  const memory = await feed.waitFor('the memory after the pull', (e) => e.event === 'memory');
  t.match(memory.data, { rss_bytes: Number, weights_bytes: 0, budget_bytes: Number });
  const after = (await (await fetch(`${server.url}/v1/models`)).json()) as { pulls: unknown[] };
  t.strictSame(after.pulls, [], 'no pull under way any more');
});

t.test('--max-loads 1: a pull waits for the slot a load holds (queued), and a load waits for a pull', async (t) => {
  const gate = await gateFor(t, A);
  const server = await serveAsCommand(t, gate.url, ['--max-loads', '1']);
  const feed = await watchFeed(server.url);
  t.teardown(async () => feed.close());
  const loading = loadModel(server.url, A);
  await until('the load of A asked the hub', () => gate.held.length > 0);

  const pulling = await pull(server.url, B);
  await until('the pull told where it stands', () => pulling.events.length > 0);
  t.strictSame(
    pulling.events[0],
    {
      status: 'loading',
      model: `${B}@main`,
      stage: 'queued',
      queue: { position: 1, reason: 'load_slot', running: 1, held_by: [`${A}@main`] },
    },
    'the pull waits for the load slot, as a load would',
  );
  await feed.waitFor('the queued pull on the feed', (e) => e.event === 'pull' && e.data.status === 'loading');
  t.equal(gate.held.filter((path) => path.includes('/tiny-chat-b/')).length, 0, 'and has not asked the hub');
  const queued = await scrape(server.url);
  t.equal(queued.value('modeldeck_pulls_under_way'), 1, '/metrics counts the pull under way');
  t.equal(queued.value('modeldeck_pulls_queued'), 1, 'and waiting its turn');
  t.equal(queued.value('modeldeck_loads_queued'), 0, 'apart from the loads waiting');

  gate.open();
  t.match((await loading).events.at(-1), { status: 'ready' });
  await pulling.done;
  t.strictSame(stagesOf(pulling.events), ['queued', 'processor', 'config', 'download', 'ready'], 'then it ran');
  const ended = await scrape(server.url);
  t.equal(ended.value('modeldeck_pulls_under_way'), 0, 'none under way once it ended');
  t.equal(ended.value('modeldeck_pulls_queued'), 0);
  t.equal((await post(server.url, '/unload_model', { model: A })).status, 200);

  // The other way round: a pull holds the slot, a load waits behind it.
  const gateB = await gateFor(t, B);
  const second = await serveAsCommand(t, gateB.url, ['--max-loads', '1']);
  const pullFirst = await pull(second.url, B);
  await until('the pull of B asked the hub', () => gateB.held.length > 0);
  const waits: LoadEvent[] = [];
  const behind = loadModel(second.url, A, { onEvent: (e) => waits.push(e) });
  await until('the load told where it stands', () => waits.length > 0);
  t.match(waits[0], { stage: 'queued', queue: { reason: 'load_slot', held_by: [`${B}@main`] } }, 'held by the pull');
  gateB.open();
  await pullFirst.done;
  t.match((await behind).events.at(-1), { status: 'ready' }, 'the load ran once the pull ended');
});

t.test('a client that leaves does not stop its pull; POST /unload_model cancels one', async (t) => {
  const gate = await gateFor(t, A);
  const server = await serveAsCommand(t, gate.url, []);
  const feed = await watchFeed(server.url);
  t.teardown(async () => feed.close());
  const left = await pull(server.url, A);
  await until('the pull asked the hub', () => gate.held.length > 0);
  left.leave();
  await left.done;
  await until('the server saw the client leave', () => server.manager.pulls()[0]?.subscribers === 0);
  t.strictSame(
    server.manager.pullingRefs().map((r) => r.key),
    [`${A}@main`],
    'the pull goes on without it',
  );
  gate.open();
  await feed.waitFor('its ready on the feed', (e) => e.event === 'pull' && e.data.status === 'ready');
  const cache = (await (await fetch(`${server.url}/cache`)).json()) as { data: { id: string }[] };
  t.match(cache.data, [{ id: A }], 'its files are in the cache');

  const gateB = await gateFor(t, B);
  const second = await serveAsCommand(t, gateB.url, []);
  const secondFeed = await watchFeed(second.url);
  t.teardown(async () => secondFeed.close());
  const cancelled = await pull(second.url, B);
  const joined = await pull(second.url, B);
  await until('both streams on the pull', () => second.manager.pulls()[0]?.subscribers === 2);
  t.strictSame(second.manager.pullingRefs().length, 1, 'one pull per model: the second request joined the first');
  t.strictSame(await post(second.url, '/unload_model', { model: B }), {
    status: 200,
    body: { status: 'cancelled', model: `${B}@main` },
  });
  await Promise.all([cancelled.done, joined.done]);
  for (const stream of [cancelled, joined]) {
    t.match(stream.events.at(-1), { status: 'error', code: 'CANCELLED', message: /pulling .* was cancelled/ });
  }
  await secondFeed.waitFor('the CANCELLED on the feed', (e) => e.event === 'pull' && e.data.status === 'error');
  t.notOk(
    secondFeed.events.some((e) => e.event === 'unload'),
    'no unload: nothing had been in memory',
  );
  t.strictSame(second.manager.pullingRefs(), [], 'no pull left');
});

t.test('deleting is atomic with respect to loads and pulls', async (t) => {
  const gate = await gateFor(t, A);
  const server = await serveAsCommand(t, gate.url, []);
  const loading = loadModel(server.url, A);
  await until('the load asked the hub', () => gate.held.length > 0);
  t.match(await post(server.url, '/delete_model', { model: A }), {
    status: 409,
    body: { error: { code: 'MODEL_IN_USE', message: /loading/ } },
  });
  gate.open();
  t.match((await loading).events.at(-1), { status: 'ready' });
  t.equal((await post(server.url, '/unload_model', { model: A })).status, 200);

  const gateB = await gateFor(t, B);
  const second = await serveAsCommand(t, gateB.url, []);
  const pulling = await pull(second.url, B);
  await until('the pull asked the hub', () => gateB.held.length > 0);
  t.match(await post(second.url, '/delete_model', { model: B }), {
    status: 409,
    body: { error: { code: 'MODEL_IN_USE', message: /being pulled/ } },
  });
  gateB.open();
  await pulling.done;
});

t.test('a load that comes while a deletion runs waits for it, then fetches what was removed', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const ref = { id: A, revision: 'main', key: `${A}@main` };
  t.match((await loadModel(server.url, A)).events.at(-1), { status: 'ready' });
  t.equal((await post(server.url, '/unload_model', { model: A })).status, 200);

  // The interleaving the review found, forced: the deletion has passed its check and holds the repository (its
  // removal waits on a gate the test opens), and a load arrives.
  let letRemove!: () => void;
  const gate = new Promise<void>((resolve) => (letRemove = resolve));
  const claim = server.manager.deleteCached(ref, async () => {
    await gate;
    return deleteCachedRevision(server.cacheDir, ref);
  });
  t.equal(claim.kind, 'claimed', 'nothing uses the repository: claimed');
  const events: LoadEvent[] = [];
  const hubAsked = mirror.requests.length;
  const during = loadModel(server.url, A, { onEvent: (e) => events.push(e) });
  await until('the load told what it waits for', () => events.length > 0);
  t.strictSame(
    events[0],
    {
      status: 'loading',
      model: `${A}@main`,
      stage: 'queued',
      queue: { position: 1, reason: 'deletion', held_by: [`${A}@main`] },
    },
    'the load waits for the deletion, and says so',
  );
  t.equal(mirror.requests.length, hubAsked, 'its loader has not run: nothing asked of the hub');
  t.match(
    await post(server.url, '/delete_model', { model: A }),
    { status: 409, body: { error: { code: 'MODEL_IN_USE', message: /loading/ } } },
    'another deletion is refused meanwhile: a load is on the repository',
  );

  letRemove();
  t.match(claim.kind === 'claimed' ? await claim.result : undefined, { refs: ['main'], freed_bytes: Number });
  const loaded = await during;
  t.match(loaded.events.at(-1), { status: 'ready' }, 'then the load ran');
  t.ok(stagesOf(loaded.events).includes('download'), 'after the removal: it fetched the files again');
});

t.test('keep_alive 0 on /load_model leaves a load under way to its clients: 409, nothing changed', async (t) => {
  const gate = await gateFor(t, A);
  const server = await serveAsCommand(t, gate.url, []);
  const loading = loadModel(server.url, A);
  await until('the load asked the hub', () => gate.held.length > 0);
  t.match(await post(server.url, '/load_model', { model: A, keep_alive: 0 }), {
    status: 409,
    body: { error: { code: 'MODEL_IN_USE', message: /is loading; "keep_alive": 0 unloads only a resident model/ } },
  });
  gate.open();
  t.match((await loading).events.at(-1), { status: 'ready' }, 'the load went on');
  t.strictSame(await post(server.url, '/load_model', { model: A, keep_alive: '0s' }), {
    status: 200,
    body: { status: 'unloaded', model: `${A}@main` },
  });
});
