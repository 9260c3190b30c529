// What the sockets report reaches the model in batches, one every few ms (`stream-reports.ts`): a batch
// must give the model and the effects that its reports applied one at a time give, in any split, and leave the model
// it was given as it was.
import t from 'tap';
import type { SessionUpdate } from '../src/client/session-update.js';
import {
  createDashboardModel,
  sessionStates,
  updateDashboard,
  type DashboardAction,
  type DashboardModel,
} from '../src/tui/dashboard-model.js';
import { runActions } from './helpers/dashboard-run.js';
import type { KeyPress } from '../src/tui/keys.js';
import type { ServerAction } from '../src/tui/server-state.js';
import type { StreamReport } from '../src/tui/stream-reports.js';

const A = 'http://a:1';
const B = 'http://b:2';

const run = runActions;

/** Four sessions on two servers; s4 is read-only and waits for another client to load its model. */
function fleet(): DashboardModel {
  return run(createDashboardModel({ defaultServer: A }), [
    { type: 'add-session', spec: { server: A, model: 'o/chat' } },
    { type: 'add-session', spec: { server: `${A}/v1/`, model: 'o/load' } },
    { type: 'add-session', spec: { server: B, model: 'o/chat' } },
    { type: 'add-session', spec: { server: B, model: 'o/wait', readOnly: true } },
  ]).model;
}

const session = (id: string, update: SessionUpdate): StreamReport => ({ type: 'session', id, update });
const server = (root: string, action: ServerAction): StreamReport => ({ type: 'server', root, action });
const loading = (at: number, model: string, current: number) =>
  ({ status: 'loading', model, stage: 'download', progress: { current, total: 100 } }) as const;

/** A turn's worth of what a fleet's sockets send: loads, chats, feed frames, an unload, a lost feed, a retry. */
function reports(): StreamReport[] {
  const out: StreamReport[] = [
    server(A, { type: 'feed-status', at: 1, status: { state: 'live', since: 1 } }),
    server(B, { type: 'feed-status', at: 1, status: { state: 'live', since: 1 } }),
    server(A, { type: 'feed', at: 2, update: { type: 'snapshot', models: [] }, id: 'r1-0' }),
    session('s4', {
      type: 'failed',
      at: 2,
      failure: { kind: 'read-only', message: 'o/wait is not loaded on the server' },
      retryAt: null,
    }),
  ];
  for (const id of ['s1', 's2', 's3']) out.push(session(id, { type: 'connecting', at: 3, attempt: 1 }));
  for (const id of ['s1', 's2', 's3']) out.push(session(id, { type: 'accepted', at: 4 }));
  for (let i = 1; i <= 5; i++) {
    out.push(session('s2', { type: 'event', at: 4 + i, event: loading(4 + i, 'o/load@main', i * 10) }));
    out.push(
      server(A, {
        type: 'feed',
        at: 4 + i,
        update: { type: 'load', subscribers: 1, event: loading(4 + i, 'o/load@main', i * 10) },
        id: `r1-${i}`,
      }),
    );
  }
  for (const id of ['s1', 's3']) {
    out.push(session(id, { type: 'event', at: 10, event: { status: 'ready', model: 'o/chat@main', cached: false } }));
    out.push(session(id, { type: 'chat-sent', at: 11, text: 'hello' }));
    for (const piece of ['Hi', ' there', ',', ' how', ' can', ' I', ' help?'])
      out.push(session(id, { type: 'chat-delta', at: 12, text: piece }));
  }
  out.push(session('s1', { type: 'chat-done', at: 13 }));
  // Another client loads s4's model on B: s4 tries again.
  out.push(
    server(B, {
      type: 'feed',
      at: 14,
      update: { type: 'load', subscribers: 2, event: loading(14, 'o/wait@main', 1) },
    }),
  );
  // s1's model leaves memory on A (its session follows); B's feed is gone for good (it is polled).
  out.push(server(A, { type: 'feed', at: 15, update: { type: 'unload', model: 'o/chat@main', reason: 'idle' } }));
  out.push(
    server(B, {
      type: 'feed-status',
      at: 16,
      status: { state: 'unsupported', failure: { kind: 'http', status: 404, message: 'no feed' } },
    }),
  );
  // Reports for a session and a server no longer there change nothing.
  out.push(session('s9', { type: 'chat-done', at: 17 }));
  out.push(server('http://c:3', { type: 'poll-failed', at: 17, failure: { kind: 'network', message: 'x' } }));
  return out;
}

t.test('a batch of reports gives the model and the effects of the same reports one at a time', async (t) => {
  const start = fleet();
  const one = run(start, reports());
  const batch = updateDashboard(start, { type: 'batch', reports: reports() });
  t.strictSame(batch.model, one.model, 'the same model');
  t.strictSame(batch.effects, one.effects, 'the same effects, in the same order');
  // The run is worth comparing: each kind of report did something.
  const states = sessionStates(batch.model);
  t.match(
    states.map((s) => s.phase),
    ['unloaded', 'loading', 'ready', 'error'],
    's1 unloaded by the feed, s2 loading, s3 ready',
  );
  t.equal(states[1]?.download?.current, 50, 's2 has its fifth progress event');
  t.match(states[2]?.transcript.at(-1), { role: 'assistant', content: 'Hi there, how can I help?', streaming: true });
  t.match(batch.model.servers[A]?.rows['o/load@main'], { state: 'loading' });
  // s4 is asked to try again on each report from B while it waits and its model loads there (as one at a time).
  t.same(batch.effects, [
    { type: 'retry', id: 's4' },
    { type: 'poll-models', root: B, apiKey: undefined },
    { type: 'retry', id: 's4' },
  ]);
});

t.test('any split of the reports into batches gives the same, and the model given is left as it was', async (t) => {
  const start = fleet();
  const before = structuredClone(start);
  const one = run(start, reports());
  const all = reports();
  for (const size of [1, 2, 3, 7, 16]) {
    const batches: DashboardAction[] = [];
    for (let i = 0; i < all.length; i += size) batches.push({ type: 'batch', reports: all.slice(i, i + size) });
    const split = run(start, batches);
    t.strictSame(split.model, one.model, `batches of ${size}: the same model`);
    t.strictSame(split.effects, one.effects, `batches of ${size}: the same effects`);
  }
  t.strictSame(start, before, 'the model a batch was given did not change');
  const nothing = updateDashboard(start, { type: 'batch', reports: [session('s9', { type: 'chat-done', at: 1 })] });
  t.equal(nothing.model, start, 'a batch that changes nothing returns the same model');
  t.equal(updateDashboard(start, { type: 'batch', reports: [] }).model, start, 'so does an empty one');
});

t.test('a server’s news reaches the sessions on it by any spelling of its URL, and no other', async (t) => {
  const start = fleet();
  t.same(start.serverSessions, { [A]: ['s1', 's2'], [B]: ['s3', 's4'] }, 'the sessions by server, in screen order');
  const ready = run(start, [
    {
      type: 'session',
      id: 's1',
      update: { type: 'event', at: 1, event: { status: 'ready', model: 'o/chat@main', cached: false } },
    },
    {
      type: 'session',
      id: 's3',
      update: { type: 'event', at: 1, event: { status: 'ready', model: 'o/chat@main', cached: false } },
    },
  ]).model;
  const unloaded = updateDashboard(ready, {
    type: 'batch',
    reports: [server(B, { type: 'feed', at: 2, update: { type: 'unload', model: 'o/chat@main', reason: 'request' } })],
  }).model;
  t.equal(sessionStates(unloaded)[0]?.phase, 'ready', 's1, on A, keeps its model');
  t.match(sessionStates(unloaded)[2], { phase: 'unloaded', unloaded: { cause: 'request' } }, 's3, on B, follows');
  t.equal(unloaded.sessions['s1'], ready.sessions['s1'], 'and s1’s entry is the same object');
});

t.test('the sessions by server follow a session moved to another server (Ctrl-E) and a session closed', async (t) => {
  const world = { lastSeq: 0, logPage: 10, now: 0 };
  const key = (k: KeyPress): DashboardAction => ({ type: 'key', key: k, world });
  const chars = (text: string): DashboardAction[] => [...text].map((c) => key({ ch: c }));
  const ENTER = key({ name: 'enter', ch: '\r' });
  // s1 (focused) moves from A to B, keeping its model and key.
  const moved = run(fleet(), [
    key({ name: 'e', ctrl: true }),
    ...Array<DashboardAction>(10).fill(key({ name: 'backspace' })),
    ...chars(B),
    ENTER,
    ENTER,
    ENTER,
  ]).model;
  t.equal(moved.sessions['s1']?.spec.server, B, 'moved');
  t.same(moved.serverSessions, { [A]: ['s2'], [B]: ['s1', 's3', 's4'] }, 'in screen order on its new server');
  const closed = run(moved, [key({ ch: 'X' }), key({ name: 'right' }), ENTER]).model;
  t.same(closed.order, ['s2', 's3', 's4']);
  t.same(closed.serverSessions, { [A]: ['s2'], [B]: ['s3', 's4'] }, 'a closed session is on no server');
  const news = updateDashboard(closed, {
    type: 'batch',
    reports: [server(B, { type: 'feed', at: 2, update: { type: 'unload', model: 'o/chat@main', reason: 'idle' } })],
  });
  t.same(news.effects, [], 'and the closed session gets no news');
});
