// The effect runner with fake pools, a fake fetch and a hand-driven clock: each effect reaches the right pool, and
// what comes back (a refused chat, a model list, an unload, a save) returns as an action. No terminal, no sockets.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { DashboardAction, Effect } from '../src/tui/dashboard-model.js';
import { createEffectRunner, type EffectRunnerOptions, type SaveLogEffect } from '../src/tui/effect-runner.js';
import type { FeedPool } from '../src/tui/feed-pool.js';
import type { ReplayRecord } from '../src/tui/replay-log.js';
import type { SessionPool } from '../src/tui/session-pool.js';
import { createFakeClock } from './helpers/fake-clock.js';
import { until } from './helpers/until.js';

const spec = { server: 'http://127.0.0.1:8000', model: 'org/model' };

/** A runner over pools that only write down what they were asked; `fetch` serves every tag's one-shot requests. */
function setup({ fetch: fakeFetch, ...extra }: Partial<EffectRunnerOptions> & { fetch?: typeof fetch } = {}) {
  const calls: string[] = [];
  const actions: DashboardAction[] = [];
  const records: ReplayRecord[] = [];
  const saves: SaveLogEffect[] = [];
  let chatFree = true;
  let quits = 0;
  const tags: string[] = [];
  const sessions: SessionPool = {
    start: (id, s) => void calls.push(`start ${id} ${s.model}`),
    close: (id) => void calls.push(`close ${id}`),
    retry: (id) => void calls.push(`retry ${id}`),
    // No session's kind is known here: an unload takes modeldeck's route, as before kinds.
    adapterOf: () => undefined,
    adapterForServer: () => undefined,
    serves: () => false,
    sendChat: (id, messages) => {
      calls.push(`chat ${id} ${messages.map((m) => m.content).join('|')}`);
      return chatFree;
    },
    stopChat: (id) => {
      calls.push(`stop ${id}`);
      return true;
    },
    closeAll: () => void calls.push('close all sessions'),
  };
  const feeds: FeedPool = {
    open: (root, apiKey) => void calls.push(`feed ${root} ${apiKey ?? '-'}`),
    poll: (root) => void calls.push(`poll ${root}`),
    close: (root) => void calls.push(`unfeed ${root}`),
    closeAll: () => void calls.push('close all feeds'),
  };
  const clock = createFakeClock(1_000);
  const runner = createEffectRunner({
    clock,
    dispatch: (action) => void actions.push(action),
    sessions,
    feeds,
    record: (record) => void records.push(record),
    tagOf: (id) => `tag-${id}`,
    fetchFor: (tag) => {
      tags.push(tag);
      return fakeFetch ?? fetch;
    },
    saveLog: async (effect) => {
      saves.push(effect);
      return { text: `saved to ${effect.path}`, tone: 'ok' };
    },
    quit: () => void quits++,
    cwd: tmpdir(),
    env: {},
    ...extra,
  });
  return {
    runner,
    tags,
    calls,
    actions,
    records,
    saves,
    clock,
    quits: () => quits,
    busy: () => {
      chatFree = false;
    },
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('live: each effect reaches its pool; the opening of a session is recorded under its tag', async (t) => {
  const r = setup();
  const effects: Effect[] = [
    { type: 'start-session', id: 's1', spec },
    { type: 'retry', id: 's1' },
    { type: 'send-chat', id: 's1', messages: [{ role: 'user', content: 'hi' }], sampling: {} },
    { type: 'stop-chat', id: 's1' },
    { type: 'open-feed', root: 'http://a', apiKey: 'k' },
    { type: 'poll-models', root: 'http://a', apiKey: 'k' },
    { type: 'close-feed', root: 'http://a' },
    { type: 'close-session', id: 's1' },
    { type: 'replay', action: 'toggle' },
  ];
  for (const effect of effects) r.runner.run(effect);
  t.same(r.calls, [
    'start s1 org/model',
    'retry s1',
    'chat s1 hi',
    'stop s1',
    'feed http://a k',
    'poll http://a',
    'unfeed http://a',
    'close s1',
  ]);
  t.same(r.records, [{ time: 1_000, session: 'tag-s1', kind: 'open', server: spec.server, model: spec.model }]);
  t.same(r.actions, [], 'nothing came back: every pool took its effect');
  r.runner.run({ type: 'quit' });
  t.equal(r.quits(), 1, 'quit stops the runtime');
});

t.test('a chat the pool refuses comes back as chat-refused', async (t) => {
  const r = setup();
  r.busy();
  r.runner.run({ type: 'send-chat', id: 's2', messages: [], sampling: {} });
  t.same(r.actions, [{ type: 'chat-refused', id: 's2' }]);
});

t.test('save-log: the notice of how it went comes back as an action', async (t) => {
  const r = setup();
  const filter = { session: null, text: '' };
  r.runner.run({ type: 'save-log', path: 'out.jsonl', filter });
  t.same(r.saves, [{ type: 'save-log', path: 'out.jsonl', filter }]);
  await flush();
  t.same(r.actions, [{ type: 'notice', text: 'saved to out.jsonl', tone: 'ok' }]);
});

t.test("list-models: the server's ids come back as models-listed", async (t) => {
  const asked: string[] = [];
  const r = setup({
    fetch: async (input, init) => {
      asked.push(`${init?.method ?? 'GET'} ${String(input)}`);
      return Response.json({ data: [{ id: 'a/b' }, { id: 'c/d' }] });
    },
  });
  r.runner.run({ type: 'list-models', root: 'http://127.0.0.1:9', apiKey: undefined });
  await flush();
  t.same(asked, ['GET http://127.0.0.1:9/v1/models']);
  t.same(r.tags, ['feed:127.0.0.1:9'], "through the tap, under the server's feed tag");
  t.same(r.actions, [
    { type: 'models-listed', root: 'http://127.0.0.1:9', outcome: { ok: true, ids: ['a/b', 'c/d'] } },
  ]);
  t.equal(r.clock.pending(), 0, 'its timeout was cleared');
});

t.test('list-models: a server that does not answer is given up after 5 s, saying so', async (t) => {
  const r = setup({
    fetch: (_input, init) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      }),
  });
  r.runner.run({ type: 'list-models', root: 'http://127.0.0.1:9', apiKey: 'k' });
  r.clock.advance(4_999);
  await flush();
  t.same(r.actions, [], 'still waiting');
  r.clock.advance(1);
  await flush();
  t.same(r.actions, [
    { type: 'models-listed', root: 'http://127.0.0.1:9', outcome: { ok: false, message: 'no answer in 5 s' } },
  ]);
});

t.test('dispose aborts the asks in flight and clears their timers', async (t) => {
  let aborted = false;
  const r = setup({
    fetch: (_input, init) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => {
          aborted = true;
          reject(new DOMException('aborted', 'AbortError'));
        });
      }),
  });
  r.runner.run({ type: 'list-models', root: 'http://127.0.0.1:9', apiKey: undefined });
  t.equal(r.clock.pending(), 1);
  r.runner.dispose();
  t.ok(aborted, 'the request was aborted');
  t.equal(r.clock.pending(), 0, 'no timer left');
});

t.test('unload: how it ended comes back as unload-done', async (t) => {
  const asked: string[] = [];
  let status = 200;
  const r = setup({
    fetch: async (input, init) => {
      asked.push(`${init?.method ?? 'GET'} ${String(input)} ${String(init?.body)}`);
      return new Response(status === 200 ? 'ok' : '{"error":{"message":"no such model"}}', { status });
    },
  });
  const unload = {
    type: 'unload',
    id: 's1',
    kind: 'unload',
    server: 'http://127.0.0.1:9',
    model: 'a/b',
    apiKey: undefined,
  } as const;
  r.runner.run(unload);
  await flush();
  t.same(asked, ['POST http://127.0.0.1:9/unload_model {"model":"a/b"}']);
  t.same(r.tags, ['tag-s1'], "through the tap, under the session's tag");
  t.same(r.actions, [
    { type: 'unload-done', id: 's1', kind: 'unload', model: 'a/b', failure: null, at: r.clock.now() },
  ]);
  status = 404;
  r.runner.run({ ...unload, kind: 'cancel' });
  await flush();
  const done = r.actions[1];
  t.match(done, {
    type: 'unload-done',
    id: 's1',
    kind: 'cancel',
    model: 'a/b',
    failure: { kind: 'http', status: 404 },
  });
});

t.test('replay: nothing reaches a pool or the network; openings are kept, the keys drive the player', async (t) => {
  const driven: string[] = [];
  const r = setup({
    replay: { toggle: () => void driven.push('toggle'), step: () => void driven.push('step') },
    fetch: () => {
      throw new Error('a replay must not fetch');
    },
  });
  const effects: Effect[] = [
    { type: 'start-session', id: 's1', spec },
    { type: 'retry', id: 's1' },
    { type: 'send-chat', id: 's1', messages: [], sampling: {} },
    { type: 'stop-chat', id: 's1' },
    { type: 'open-feed', root: 'http://a', apiKey: undefined },
    { type: 'poll-models', root: 'http://a', apiKey: undefined },
    { type: 'close-feed', root: 'http://a' },
    { type: 'close-session', id: 's1' },
    { type: 'unload', id: 's1', kind: 'unload', server: 'http://a', model: 'a/b', apiKey: undefined },
    { type: 'replay', action: 'toggle' },
    { type: 'replay', action: 'step' },
    { type: 'list-models', root: 'http://a', apiKey: undefined },
  ];
  for (const effect of effects) r.runner.run(effect);
  await flush();
  t.same(r.calls, [], 'no pool was asked anything');
  t.same(driven, ['toggle', 'step']);
  t.same(r.records, [{ time: 1_000, session: 'tag-s1', kind: 'open', server: spec.server, model: spec.model }]);
  t.same(r.actions, [
    { type: 'models-listed', root: 'http://a', outcome: { ok: false, message: 'a replay asks no server' } },
  ]);
  r.runner.run({ type: 'save-log', path: 'replayed.jsonl', filter: { session: null, text: '' } });
  r.runner.run({ type: 'quit' });
  t.equal(r.saves.length, 1, 'a replay saves');
  t.equal(r.quits(), 1, 'and quits');
});

t.test('save-and-quit: each save in turn, then shutdown; a save that fails keeps the dashboard open', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'modeldeck-runner-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const r = setup({ cwd });
  const sessions = [{ tag: 's1', spec: { ...spec, apiKey: 'k', keyOrigin: { kind: 'env', name: 'K' } as const } }];
  r.runner.run({ type: 'save-and-quit', log: 'events.jsonl', sessions: { path: 'dash.json', sessions } });
  await until('shutdown', () => r.actions.some((a) => a.type === 'shutdown'));
  t.same(
    r.saves.map((s) => [s.path, s.whole]),
    [['events.jsonl', true]],
    'the whole log, whatever the pane shows',
  );
  t.match(r.actions, [{ type: 'sessions-written', path: 'dash.json' }, { type: 'shutdown' }]);
  t.same(JSON.parse(await readFile(join(cwd, 'dash.json'), 'utf8')), {
    sessions: [{ server: spec.server, model: spec.model, apiKeyEnv: 'K' }],
  });
  t.match(r.runner.farewell, ['saved to events.jsonl', /^wrote 1 session to /], 'what it said, for the terminal');

  const failing = setup({ cwd, saveLog: async () => ({ text: 'not saved: events.jsonl exists', tone: 'error' }) });
  failing.runner.run({ type: 'save-and-quit', log: 'events.jsonl' });
  await until('the notice', () => failing.actions.length > 0);
  t.same(failing.actions, [{ type: 'notice', text: 'not quitting: not saved: events.jsonl exists', tone: 'error' }]);
});

t.test('write-sessions: an existing file is not written over unless asked', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'modeldeck-runner-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await writeFile(join(cwd, 'modeldeck.json'), 'mine');
  const r = setup({ cwd });
  const sessions = [{ tag: 's1', spec }];
  r.runner.run({ type: 'write-sessions', path: 'modeldeck.json', overwrite: false, sessions });
  await until('the answer', () => r.actions.length > 0);
  t.same(r.actions, [{ type: 'sessions-exist', path: 'modeldeck.json' }]);
  t.equal(await readFile(join(cwd, 'modeldeck.json'), 'utf8'), 'mine');
  r.runner.run({ type: 'write-sessions', path: 'modeldeck.json', overwrite: true, sessions });
  await until('written', () => r.actions.length > 1);
  t.match(r.actions[1], { type: 'sessions-written', path: 'modeldeck.json', text: /\(replacing it\)$/ });
});
