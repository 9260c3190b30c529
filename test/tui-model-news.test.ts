// Pure: what a server's feed frames and polls say of its models (server-news.ts), how a session follows them
// (session-residency.ts), and what its pane then says (session-figures.ts): ready only while resident, unloaded with
// why, loading again, the unload countdown, a queued load's place; modeldeck's own fields read leniently.
import t from 'tap';
import type { FeedUpdate } from '../src/client/feed-events.js';
import type { ListedModel } from '../src/client/model-admin.js';
import { parseLoadEvent } from '../src/protocol/events.js';
import { readFeedExtras, readLoadExtras, readQueuePlace } from '../src/protocol/residency-fields.js';
import { createServerState, reduceServer, type ServerAction, type ServerState } from '../src/tui/server-state.js';
import { serverNews } from '../src/tui/server-news.js';
import { ordinal, queueWords, replyFigures, stateLine, formatCountdown } from '../src/tui/session-figures.js';
import { followNews, unloadedBySession, type ModelNews } from '../src/tui/session-residency.js';
import { createSessionState, reduceSession, type SessionState } from '../src/tui/session-state.js';

const ROOT = 'http://127.0.0.1:9';
const MODEL = 'org/m@main';

function readyAt(at: number, data = `{"status": "ready", "model": "${MODEL}", "cached": false}`): SessionState {
  let s = createSessionState({ id: 's1', tag: 's1', server: ROOT, model: 'org/m' });
  s = reduceSession(s, { type: 'connecting', at: at - 100, attempt: 1 });
  const parsed = parseLoadEvent(data);
  if (!parsed.ok) throw new Error(parsed.error);
  return reduceSession(s, { type: 'event', at, event: parsed.event, ...readLoadExtras(data) });
}

const line = (s: SessionState, now: number): string =>
  stateLine(s, now, 200, null)
    .map((x) => x.text)
    .join('');

/** A feed frame as the pool reports it. */
function feed(update: FeedUpdate, at: number, id: string, name = '', data = ''): ServerAction {
  return { type: 'feed', at, update, id, extras: readFeedExtras(name, data) };
}

/** The news of `action` on `server`, and the server after it. */
function tell(server: ServerState, action: ServerAction): { news: ModelNews[]; server: ServerState } {
  return { news: serverNews(server, action), server: reduceServer(server, action) };
}

const follow = (s: SessionState, news: readonly ModelNews[], at: number): SessionState =>
  news.reduce((x, n) => followNews(x, n, at), s);

t.test('each unload reason of the feed, in words, and ready only until then', async (t) => {
  const words: Record<string, RegExp> = {
    idle: /○ unloaded: idle timeout at \d\d:\d\d:\d\d/,
    request: /○ unloaded: by another client's request at /,
    evicted: /○ unloaded: evicted for another model at /,
    reset: /○ unloaded: server reset at /,
    shutdown: /○ unloaded: server shut down at /,
    bogus: /○ unloaded: no longer in server memory at /,
  };
  for (const [reason, words_] of Object.entries(words)) {
    const server = createServerState(ROOT);
    const { news } = tell(server, feed({ type: 'unload', model: MODEL, reason }, 2000, 'r1-5'));
    const s = follow(readyAt(1000), news, 2000);
    t.equal(s.phase, 'unloaded', `${reason}: unloaded`);
    t.match(line(s, 2500), words_, `${reason}: says why`);
    t.notMatch(line(s, 2500), '✓ ready');
    t.match(line(s, 2500), 'a message loads it again');
  }
  const other = follow(readyAt(1000), [{ kind: 'unloaded', model: 'org/other@main', cause: 'idle' }], 2000);
  t.equal(other.phase, 'ready', "another model's unload changes nothing");
});

t.test('a loading session ignores the news: its own stream is the authority while it runs', async (t) => {
  let s = createSessionState({ id: 's1', tag: 's1', server: ROOT, model: 'org/m' });
  s = reduceSession(s, { type: 'connecting', at: 1, attempt: 1 });
  for (const news of [
    { kind: 'unloaded', model: MODEL, cause: 'idle' },
    { kind: 'restarted' },
    { kind: 'resident', model: MODEL },
  ] as const) {
    t.equal(followNews(s, news, 5), s, `${news.kind}: unchanged`);
  }
  const ready = readyAt(1000);
  t.equal(
    followNews(ready, { kind: 'loading', model: MODEL, stage: 'weights', progress: null }, 1100),
    ready,
    "a ready session is not demoted by a feed that lags behind its own stream's ready",
  );
});

t.test('loading again: for a message (its reply says reloaded), or by another client; ready once back', async (t) => {
  const gone = followNews(readyAt(1000), { kind: 'unloaded', model: MODEL, cause: 'idle' }, 2000);
  // A message while unloaded: the chat loads the model again on the server.
  let s = reduceSession(gone, { type: 'chat-sent', at: 3000, text: 'hi' });
  t.equal(s.phase, 'reloading');
  t.match(line(s, 3500), /● loading again… · replying… · for your message · 0\.5s/);
  s = followNews(s, { kind: 'loading', model: MODEL, stage: 'weights', progress: { current: 1, total: 4 } }, 3600);
  t.match(line(s, 3700), /● loading again: weights 25% · replying… · for your message/);
  s = reduceSession(s, { type: 'chat-delta', at: 4200, text: 'hey' });
  t.equal(s.phase, 'ready', 'the first piece says the model is back');
  t.match(line(s, 4300), /✓ ready · replying… · loaded again in 1\.2s/);
  s = reduceSession(s, { type: 'chat-done', at: 4300 });
  const reply = s.transcript.at(-1)?.metrics;
  t.equal(reply?.reloaded, true);
  t.match(
    replyFigures(reply ?? { sentAt: 0, firstAt: null, endedAt: null, pieces: 0, usage: null })[0],
    /^ttft 1\.2s \(reloaded\)$/,
  );

  // Another client's load: loading again after the reason, then resident with the server's countdown.
  let other = followNews(gone, { kind: 'loading', model: MODEL, stage: 'processor', progress: null }, 5000);
  t.match(line(other, 5000), /● loading again: processor · after idle timeout/);
  other = followNews(other, { kind: 'resident', model: MODEL, expiresInMs: 240_000 }, 6000);
  t.equal(other.phase, 'ready');
  t.match(line(other, 6000), /✓ ready · loaded again in 1\.0s · unloads in 4m/);

  // A reply waiting for its first piece while the server loads the model again is marked too.
  let waiting = reduceSession(readyAt(1000), { type: 'chat-sent', at: 2000, text: 'hi' });
  waiting = followNews(waiting, { kind: 'unloaded', model: MODEL, cause: 'evicted' }, 2001);
  waiting = followNews(waiting, { kind: 'loading', model: MODEL, stage: 'config', progress: null }, 2002);
  t.equal(waiting.transcript.at(-1)?.metrics?.reloaded, true);
  // A reply that fails while the model loads again for it: unloaded, as far as the session knows.
  const failed = reduceSession(reduceSession(gone, { type: 'chat-sent', at: 3000, text: 'hi' }), {
    type: 'chat-failed',
    at: 3100,
    failure: { kind: 'server', message: 'no' },
  });
  t.equal(failed.phase, 'unloaded');
});

t.test('the unload countdown: from the ready event, the feed, none while generating', async (t) => {
  const ready = readyAt(1000, `{"status": "ready", "model": "${MODEL}", "cached": false, "expires_in_ms": 300000}`);
  t.equal(ready.expiresAt, 301_000);
  t.match(line(ready, 61_000), /✓ ready · unloads in 4m/);
  t.match(line(ready, 280_000), /unloads in 21s/);
  t.match(line(ready, 302_000), /unload due/);
  const server = createServerState(ROOT);
  const busy = follow(ready, serverNews(server, feed({ type: 'chat-start', model: MODEL }, 2000, 'r1-3')), 2000);
  t.equal(busy.expiresAt, null, 'a model that generates is not idle');
  const chatEnd = feed(
    { type: 'chat-end', model: MODEL, tokens: 3, tokensPerSecond: 10 },
    3000,
    'r1-4',
    'chat_end',
    `{"model":"${MODEL}","request":"x","outcome":"stop","prompt_tokens":1,"completion_tokens":3,"tokens_per_second":10,"expires_in_ms":60000}`,
  );
  const after = follow(busy, serverNews(server, chatEnd), 3000);
  t.equal(after.expiresAt, 63_000, "the chat end's countdown");
  // A newer server's `expiry` frame, which an older parser does not know, is read for its countdown.
  const expiry = feed(
    { type: 'other', name: 'expiry', error: 'unknown' },
    4000,
    'r1-5',
    'expiry',
    `{"model":"${MODEL}","expires_at":"2026-01-01T00:00:00.000Z","expires_in_ms":1000}`,
  );
  t.equal(follow(after, serverNews(server, expiry), 4000).expiresAt, 5000);
  t.same(formatCountdown(45_000), '45s');
  t.same(formatCountdown(3_900_000), '1h05m');
});

t.test('a new run in the feed ids is a restart; a snapshot taken after ready says nothing of it', async (t) => {
  let server = createServerState(ROOT);
  server = reduceServer(server, { type: 'feed-status', at: 500, status: { state: 'live', since: 500 } });
  // The first snapshot (run r1) was taken when the feed connected, before the session was ready: it lists nothing.
  const first = tell(server, feed({ type: 'snapshot', models: [] }, 1200, 'r1-0'));
  let s = follow(readyAt(1000), first.news, 1200);
  t.equal(s.phase, 'ready', 'a list older than the session’s ready says nothing of its model');
  server = first.server;
  t.equal(server.run, 'r1');
  // The server restarts: the feed reconnects to run r2, whose snapshot does not have the model.
  server = reduceServer(server, { type: 'feed-status', at: 5000, status: { state: 'live', since: 5000 } });
  const restarted = tell(server, feed({ type: 'snapshot', models: [] }, 5001, 'r2-0'));
  t.same(restarted.news[0], { kind: 'restarted' });
  s = follow(s, restarted.news, 5001);
  t.match(line(s, 5002), /○ unloaded: server restarted at /);
  // A snapshot of the same run taken after a reconnect that lost events: gone, reason unknown.
  let again = readyAt(1000);
  server = reduceServer(first.server, { type: 'feed-status', at: 3000, status: { state: 'live', since: 3000 } });
  again = follow(again, tell(server, feed({ type: 'snapshot', models: [] }, 3001, 'r1-40')).news, 3001);
  t.match(line(again, 3002), /○ unloaded: no longer in server memory at /);
  // Resident in it: stays ready; loading in it while unloaded: loading again.
  const resident = {
    type: 'snapshot',
    models: [{ model: MODEL, state: 'resident', stage: null, progress: null, subscribers: null, sizeBytes: 5 }],
  } as const;
  t.equal(follow(readyAt(1000), tell(server, feed(resident, 3001, 'r1-41')).news, 3001).phase, 'ready');
});

t.test('a poll without a feed: not loaded any more is unloaded; a list without states tells nothing', async (t) => {
  const server = createServerState(ROOT);
  const polled = (models: readonly ListedModel[], askedAt: number): ModelNews[] =>
    serverNews(server, { type: 'polled', at: askedAt + 10, models, askedAt });
  const cached = [{ id: MODEL, state: 'on-disk', sizeBytes: null, subscribers: null }] as const;
  t.equal(follow(readyAt(1000), polled(cached, 900), 910).phase, 'ready', 'a poll sent before the ready');
  t.equal(follow(readyAt(1000), polled(cached, 2000), 2010).phase, 'unloaded', 'a poll sent after it');
  const upstream = [{ id: MODEL, state: null, sizeBytes: null, subscribers: null }] as const;
  t.same(polled(upstream, 2000), [], 'transformers serve lists no states: nothing to tell');
  const loaded = [{ id: MODEL, state: 'resident', sizeBytes: 1, subscribers: 0, expiresInMs: 10_000 }] as const;
  t.equal(follow(readyAt(1000), polled(loaded, 2000), 2010).expiresAt, 12_010);
});

t.test(
  'this session’s own U: unloaded from this console, whichever of its answer and the feed comes first',
  async (t) => {
    const own = unloadedBySession(readyAt(1000), 2000);
    t.match(line(own, 2001), /○ unloaded: unloaded from this console at /);
    const feedFirst = followNews(readyAt(1000), { kind: 'unloaded', model: MODEL, cause: 'request' }, 2000);
    t.match(line(unloadedBySession(feedFirst, 2001), 2002), /unloaded from this console/);
  },
);

t.test('waiting is named: accepted before any event, then the place and reason a queued event gives', async (t) => {
  let s = createSessionState({ id: 's1', tag: 's1', server: ROOT, model: 'org/m' });
  s = reduceSession(s, { type: 'connecting', at: 0, attempt: 1 });
  t.match(line(s, 0), '◌ connecting…');
  s = reduceSession(s, { type: 'accepted', at: 100 });
  t.equal(s.phase, 'queued');
  t.match(line(s, 3100), /◌ accepted · waiting for the server to start the load · 3\.0s/);
  const data = `{"status": "loading", "model": "${MODEL}", "stage": "queued", "queue": {"position": 2, "reason": "load_slot", "running": 2}}`;
  const parsed = parseLoadEvent(data);
  if (!parsed.ok) throw new Error(parsed.error);
  s = reduceSession(s, { type: 'event', at: 200, event: parsed.event, ...readLoadExtras(data) });
  t.match(line(s, 4200), /◌ queued · 2nd · waiting for a load slot \(2 running\) · 4\.1s/);
  const next = parseLoadEvent(`{"status": "loading", "model": "${MODEL}", "stage": "processor"}`);
  if (!next.ok) throw new Error(next.error);
  s = reduceSession(s, { type: 'event', at: 5000, event: next.event });
  t.equal(s.phase, 'loading');
  t.same(
    s.stages.map((x) => x.name),
    ['queued', 'processor'],
    'the wait is a stage of its own in the stage times',
  );
  t.equal(
    queueWords({ position: 1, reason: 'model_slot', running: null, heldBy: ['org/x@main'] }),
    'waiting for a model slot (held by org/x)',
  );
  t.equal(
    queueWords({ position: 1, reason: 'download_connections', running: null, heldBy: ['org/big@main'] }),
    'waiting for download connections (held by org/big)',
  );
  t.same([1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal), [
    '1st',
    '2nd',
    '3rd',
    '4th',
    '11th',
    '12th',
    '13th',
    '21st',
    '22nd',
    '101st',
  ]);
  // Read leniently: held_by as one id or a list, malformed queues left out.
  t.same(readQueuePlace({ position: 1, reason: 'model_slot', held_by: 'a/b@main' })?.heldBy, ['a/b@main']);
  t.equal(readQueuePlace({ position: 0, reason: 'x' }), undefined);
  t.equal(readQueuePlace('nope'), undefined);
  t.same(readLoadExtras('{"status": "ready", "model": "a@main", "cached": true}'), {});
  t.same(readFeedExtras('snapshot', '{"models":[{"model":"a@main","state":"resident","expires_in_ms":null}]}'), {
    expires: { 'a@main': null },
  });
});

t.test('a countdown the feed gives before the session’s own ready is kept by it', async (t) => {
  let s = createSessionState({ id: 's1', tag: 's1', server: ROOT, model: 'org/m' });
  s = reduceSession(s, { type: 'connecting', at: 0, attempt: 1 });
  s = followNews(s, { kind: 'expiry', model: MODEL, expiresInMs: 60_000 }, 900);
  const parsed = parseLoadEvent(`{"status": "ready", "model": "${MODEL}", "cached": false}`);
  if (!parsed.ok) throw new Error(parsed.error);
  s = reduceSession(s, { type: 'event', at: 1000, event: parsed.event });
  t.equal(s.expiresAt, 60_900);
  t.match(line(s, 1000), /unloads in 60s/);
  t.equal(reduceSession(s, { type: 'connecting', at: 2000, attempt: 1 }).expiresAt, null, 'a new load forgets it');
});
