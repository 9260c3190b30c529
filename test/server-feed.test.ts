import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { FeedEvent } from '../src/protocol/feed.js';
import { demoModelsDir } from './helpers/demo.js';
import { sequenceOf, watchFeed } from './helpers/feed-client.js';
import { loadModel } from './helpers/sse-client.js';
import { until } from './helpers/until.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;

const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-feed-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

function assertIncreasing(t: Test, events: readonly FeedEvent[], what: string): void {
  const sequences = events.map(sequenceOf);
  t.ok(
    sequences.every((n, i) => i === 0 || n > (sequences[i - 1] ?? 0)),
    `${what}: ids strictly increasing (${sequences.join(' ')})`,
  );
}

async function chat(url: string, model: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, max_tokens: 5, seed: 1, messages: [{ role: 'user', content: 'secret words' }] }),
  });
  return res.json();
}

t.test('a watcher gets a snapshot, then the loads and chats other clients start, live', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const watcher = await watchFeed(server.url);
  t.teardown(() => watcher.close());
  t.equal(watcher.status, 200);
  const first = await watcher.waitFor('the snapshot', () => true);
  t.match(first, { event: 'snapshot', data: { models: [] } }, 'first a snapshot: nothing known yet');

  const load = await loadModel(server.url, MODEL);
  const ready = await watcher.waitFor('ready on the feed', (e) => e.event === 'load' && e.data.status === 'ready');
  const loadEvents = watcher.events.filter((e) => e.event === 'load').map((e) => e.data);
  t.strictSame(loadEvents, load.events, 'the feed carries the very events the /load_model client got');
  t.match(ready, { data: { model: KEY, cached: false } });

  const reply = await chat(server.url, MODEL);
  t.ok(reply, 'a chat answered');
  const end = await watcher.waitFor('chat_end', (e) => e.event === 'chat_end');
  const start = watcher.events.find((e) => e.event === 'chat_start');
  t.match(start, { data: { model: KEY, request: /^chatcmpl-/ } });
  t.match(end, {
    data: { model: KEY, outcome: /^(stop|length)$/, prompt_tokens: Number, completion_tokens: Number },
  });
  if (end.event === 'chat_end' && start?.event === 'chat_start') t.equal(end.data.request, start.data.request);
  t.notMatch(JSON.stringify(watcher.events), /secret words/, 'never message content');
  assertIncreasing(t, watcher.events, 'one watcher');
  t.same(watcher.retries, [2000], 'a retry: hint');

  const late = await watchFeed(server.url);
  t.teardown(() => late.close());
  const snapshot = await late.waitFor('the late snapshot', () => true);
  t.match(snapshot, {
    event: 'snapshot',
    data: { models: [{ model: KEY, state: 'resident', active_requests: 0, size_bytes: Number }] },
  });
  if (snapshot.event === 'snapshot') t.ok((snapshot.data.models[0]?.size_bytes ?? 0) > 0, 'with its weight size');
  t.equal(snapshot.id, watcher.events.at(-1)?.id, 'the snapshot has the id of the latest event');

  const unload = await fetch(`${server.url}/unload_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL }),
  });
  t.equal(unload.status, 200);
  for (const w of [watcher, late]) {
    t.match(await w.waitFor('unload', (e) => e.event === 'unload'), { data: { model: KEY, reason: 'request' } });
  }
  assertIncreasing(t, late.events, 'the late watcher');
});

const HISTORY = 24;

t.test('Last-Event-ID resumes without gaps or duplicates; an id too old gets a fresh snapshot', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url, feedHistory: HISTORY });
  t.teardown(() => server.close());
  const continuous = await watchFeed(server.url);
  t.teardown(() => continuous.close());
  const partial = await watchFeed(server.url);
  await partial.waitFor('snapshot', () => true);
  const load = loadModel(server.url, MODEL);
  // Leave after the first live event, come back once the load is over.
  await partial.waitFor('a load event', (e) => e.event === 'load');
  partial.close();
  await partial.ended;
  await load;
  await continuous.waitFor('ready', (e) => e.event === 'load' && e.data.status === 'ready');
  const seen = [...partial.events];
  const lastSeen = seen.at(-1);
  if (lastSeen === undefined) throw new Error('nothing seen');
  t.ok(
    continuous.events.length - 1 <= HISTORY,
    `the whole load fits the history (${continuous.events.length - 1} events)`,
  );

  const resumed = await watchFeed(server.url, { lastEventId: lastSeen.id });
  t.teardown(() => resumed.close());
  await resumed.waitFor('ready again', (e) => e.event === 'load' && e.data.status === 'ready');
  t.notOk(
    resumed.events.some((e) => e.event === 'snapshot'),
    'no snapshot on a resume',
  );
  await until('the comment that ends the replay', () => resumed.comments.find((c) => c.startsWith('resumed:')));
  t.match(resumed.comments[0], /^resumed: \d+ missed events?$/, 'the replay ends with a comment, before any heartbeat');
  const joined = [...seen, ...resumed.events].map((e) => e.id);
  t.strictSame(
    joined,
    continuous.events.map((e) => e.id),
    'the two halves are the continuous stream',
  );
  assertIncreasing(t, [...seen, ...resumed.events], 'resumed');

  // Two events per chat push the first load's out of the history.
  const chats = HISTORY / 2 + 1;
  for (let i = 0; i < chats; i += 1) await chat(server.url, MODEL);
  await continuous.waitFor(
    `${chats} chats`,
    () => continuous.events.filter((e) => e.event === 'chat_end').length === chats,
  );
  const stale = await watchFeed(server.url, { lastEventId: lastSeen.id });
  t.teardown(() => stale.close());
  t.match(await stale.waitFor('a snapshot', () => true), {
    event: 'snapshot',
    id: continuous.events.at(-1)?.id,
    data: { models: [{ model: KEY, state: 'resident' }] },
  });
  const upToDate = await watchFeed(server.url, { lastEventId: continuous.events.at(-1)?.id ?? '' });
  t.teardown(() => upToDate.close());
  await until('a resume with nothing missed', () => upToDate.comments.length > 0);
  t.strictSame(
    [upToDate.comments[0], upToDate.events],
    ['resumed: 0 missed events', []],
    'nothing missed: no frame, and still the comment that says the view is current',
  );
  const foreign = await watchFeed(server.url, { lastEventId: 'elsewhere-3' });
  t.teardown(() => foreign.close());
  t.match(await foreign.waitFor('a snapshot', () => true), { event: 'snapshot' }, "another run's id: a snapshot");
});

t.test('the feed is behind the API key', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url, apiKey: 'sk-feed' });
  t.teardown(() => server.close());
  const without = await fetch(`${server.url}/events`);
  t.equal(without.status, 401);
  t.match(await without.json(), { error: { code: 'MISSING_API_KEY' } });
  const wrong = await fetch(`${server.url}/events`, { headers: { authorization: 'Bearer nope' } });
  t.equal(wrong.status, 401);
  t.match(await wrong.json(), { error: { code: 'INVALID_API_KEY' } });
  const watcher = await watchFeed(server.url, { headers: { authorization: 'Bearer sk-feed' } });
  t.teardown(() => watcher.close());
  t.equal(watcher.status, 200);
  t.match(await watcher.waitFor('snapshot', () => true), { event: 'snapshot' });
});
