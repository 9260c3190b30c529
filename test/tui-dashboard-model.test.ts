// The dashboard's one update path, pure: keys, session updates, adding and closing sessions and notices are actions;
// what must happen in the world comes back as effects.
import t from 'tap';
import {
  createDashboardModel,
  promptModelChoices,
  sessionsChanged,
  sessionStates,
  updateDashboard,
  type DashboardAction,
} from '../src/tui/dashboard-model.js';
import { runActions } from './helpers/dashboard-run.js';
import type { KeyPress } from '../src/tui/keys.js';

const world = { lastSeq: 0, logPage: 10, now: 0 };
const key = (k: KeyPress): DashboardAction => ({ type: 'key', key: k, world });
const chars = (text: string): DashboardAction[] => [...text].map((c) => key({ ch: c }));
const ENTER = key({ name: 'enter', ch: '\r' });
const RIGHT = key({ name: 'right' });
const LEFT = key({ name: 'left' });
const ctrl = (name: string): DashboardAction => key({ name, ctrl: true });
/** Presses the dialog's other button: → then Enter. */
const CONFIRM = [RIGHT, ENTER];

const run = runActions;

const base = () => createDashboardModel({ defaultServer: 'http://a:1', defaultApiKey: 'k-default' });

t.test('adding a session is an action: an id, a fresh state, and an effect that starts its I/O', async (t) => {
  const { model, effects } = run(base(), [{ type: 'add-session', spec: { server: 'http://a:1', model: 'o/m' } }]);
  t.same(model.order, ['s1']);
  t.equal(sessionStates(model)[0]?.phase, 'connecting');
  t.same(effects, [
    { type: 'start-session', id: 's1', spec: { server: 'http://a:1', model: 'o/m' } },
    { type: 'open-feed', root: 'http://a:1', apiKey: undefined },
  ]);
  const again = run(model, [{ type: 'add-session', spec: { server: 'http://a:1/v1/', model: 'o/n' } }]);
  t.same(
    again.effects.map((e) => e.type),
    ['start-session'],
    'a second session on the same server (any spelling of its URL) shares its feed',
  );
  t.same(Object.keys(again.model.servers), ['http://a:1']);
});

t.test(
  'Ctrl-N asks server, model, key; Enter takes the stated default key, and the new session takes focus',
  async (t) => {
    let { model } = run(base(), [{ type: 'add-session', spec: { server: 'http://b:2', model: 'o/m', apiKey: 'k-b' } }]);
    const asking = run(model, [ctrl('n'), ...chars('http://b:2'), ENTER, ...chars('o/other'), ENTER]);
    t.match(asking.model.ui.prompt, { kind: 'add-key', keyDefault: 'key of s1' }, 'the default is named');
    const added = run(asking.model, [ENTER]);
    model = added.model;
    t.same(added.effects, [
      { type: 'start-session', id: 's2', spec: { server: 'http://b:2', model: 'o/other', apiKey: 'k-b' } },
    ]);
    t.equal(model.ui.focus, 1, 'the new session is focused');
    const other = run(model, [ctrl('n'), ENTER, ...chars('o/third'), ENTER, ENTER]);
    t.same(
      other.effects,
      [
        { type: 'list-models', root: 'http://a:1', apiKey: 'k-default' },
        { type: 'start-session', id: 's3', spec: { server: 'http://a:1', model: 'o/third', apiKey: 'k-default' } },
        { type: 'open-feed', root: 'http://a:1', apiKey: 'k-default' },
      ],
      'a server no session has a key for gets the default key',
    );
    const none = run(model, [
      ctrl('n'),
      ...chars('http://b:2'),
      ENTER,
      ...chars('o/x'),
      ENTER,
      key({ ch: '-' }),
      ENTER,
    ]);
    t.same(
      none.effects[0],
      { type: 'start-session', id: 's3', spec: { server: 'http://b:2', model: 'o/x' } },
      '- is no key',
    );
    const typed = run(model, [
      ctrl('n'),
      ...chars('http://b:2'),
      ENTER,
      ...chars('o/x'),
      ENTER,
      ...chars('k-new'),
      ENTER,
    ]);
    t.same(typed.effects[0], {
      type: 'start-session',
      id: 's3',
      spec: { server: 'http://b:2', model: 'o/x', apiKey: 'k-new', keyOrigin: { kind: 'typed' } },
    });
    t.ok(typed.model.secrets.includes('k-new'), 'a typed key is redacted like the others');
    const spaced = run(model, [ctrl('n'), ENTER, ...chars('o/x'), ENTER, ...chars('a b'), ENTER]);
    t.match(spaced.model.ui.prompt, { kind: 'add-key', error: /printable ASCII/ }, 'a key with a space is refused');
  },
);

t.test('Ctrl-E reopens the focused session on new values, keeping its id, tag and transcript', async (t) => {
  let { model } = run(base(), [
    { type: 'add-session', spec: { server: 'http://a:1', model: 'o/m', apiKey: 'k-old' } },
    { type: 'session', id: 's1', update: { type: 'chat-sent', at: 1, text: 'hi' } },
  ]);
  const kept = run(model, [ctrl('e'), ENTER, ENTER]);
  t.match(kept.model.ui.prompt, { kind: 'edit-key', keyDefault: 'keep', sessionId: 's1' });
  const same = run(kept.model, [ENTER]);
  t.same(
    same.effects,
    [
      { type: 'close-session', id: 's1' },
      { type: 'start-session', id: 's1', spec: { server: 'http://a:1', model: 'o/m', apiKey: 'k-old' } },
    ],
    'Enter keeps the key; the same server keeps its feed',
  );
  const moved = run(model, [
    ctrl('e'),
    ...Array(10).fill(key({ name: 'backspace' })),
    ...chars('http://c:3'),
    ENTER,
    ...Array(3).fill(key({ name: 'backspace' })),
    ...chars('o/n'),
    ENTER,
    ...chars('k-new'),
    ENTER,
  ]);
  t.same(moved.effects, [
    { type: 'list-models', root: 'http://c:3', apiKey: 'k-old' },
    { type: 'close-session', id: 's1' },
    {
      type: 'start-session',
      id: 's1',
      spec: { server: 'http://c:3', model: 'o/n', apiKey: 'k-new', keyOrigin: { kind: 'typed' } },
    },
    { type: 'close-feed', root: 'http://a:1' },
    { type: 'open-feed', root: 'http://c:3', apiKey: 'k-new' },
  ]);
  model = moved.model;
  t.same(model.order, ['s1']);
  t.equal(model.sessions['s1']?.state.tag, 's1');
  t.equal(model.sessions['s1']?.state.phase, 'connecting', 'a fresh load');
  t.equal(model.sessions['s1']?.state.transcript[0]?.content, 'hi', 'the transcript is kept');
  t.same(Object.keys(model.servers), ['http://c:3']);
  const dropped = run(model, [ctrl('e'), ENTER, ENTER, key({ ch: '-' }), ENTER]);
  t.same(
    dropped.effects[1],
    { type: 'start-session', id: 's1', spec: { server: 'http://c:3', model: 'o/n' } },
    '- drops it',
  );
});

t.test(
  'closing is confirmed, then removes the session, its input and its log filter, and closes its I/O',
  async (t) => {
    let { model } = run(base(), [
      { type: 'add-session', spec: { server: 'http://a:1', model: 'o/m' } },
      { type: 'add-session', spec: { server: 'http://a:1', model: 'o/n' } },
    ]);
    model = { ...model, ui: { ...model.ui, focus: 1, log: { ...model.ui.log, filterSession: 's2' } } };
    const kept = run(model, [key({ ch: 'X' }), key({ ch: 'y' })]);
    t.same(kept.model.order, ['s1', 's2'], 'a letter keeps it');
    t.same(run(model, [key({ ch: 'X' }), ENTER]).model.order, ['s1', 's2'], 'so does Enter on Keep');
    const closed = run(model, [key({ ch: 'X' }), ...CONFIRM]);
    t.same(closed.model.order, ['s1']);
    t.same(closed.effects, [{ type: 'close-session', id: 's2' }], 'the feed stays while s1 uses the server');
    const last = run(closed.model, [key({ ch: 'X' }), ...CONFIRM]);
    t.same(last.effects, [
      { type: 'close-session', id: 's1' },
      { type: 'close-feed', root: 'http://a:1' },
    ]);
    t.same(last.model.servers, {}, 'the server view forgets a server no session uses');
    t.equal(closed.model.ui.focus, 0, 'focus stays on a session that exists');
    t.equal(closed.model.ui.log.filterSession, null, 'the closed session’s log filter is dropped');
  },
);

t.test('session updates go through the session reducer, with every key redacted', async (t) => {
  let { model } = run(base(), [{ type: 'add-session', spec: { server: 'http://a:1', model: 'o/m', apiKey: 'k-s' } }]);
  model = run(model, [
    { type: 'session', id: 's1', update: { type: 'connecting', at: 1, attempt: 1 } },
    {
      type: 'session',
      id: 's1',
      update: {
        type: 'failed',
        at: 2,
        failure: { kind: 'http', status: 401, message: 'bad key k-s (default k-default)' },
        retryAt: null,
      },
    },
  ]).model;
  const state = sessionStates(model)[0];
  t.equal(state?.phase, 'error');
  t.equal(state?.error?.message, 'bad key [redacted] (default [redacted])');
  const ignored = updateDashboard(model, { type: 'session', id: 's9', update: { type: 'chat-done', at: 3 } });
  t.equal(ignored.model, model, 'an update for a closed session changes nothing');
});

t.test('notices: set by an action, cleared by the next key; a refused chat says why', async (t) => {
  let { model } = run(base(), [
    { type: 'add-session', spec: { server: 'http://a:1', model: 'o/m' } },
    { type: 'notice', text: 'hello', tone: 'ok' },
  ]);
  t.same(model.notice, { text: 'hello', tone: 'ok' });
  model = run(model, [key({ name: 'tab' })]).model;
  t.equal(model.notice, null);
  model = run(model, [{ type: 'chat-refused', id: 's1' }]).model;
  t.match(model.notice?.text, /s1: a reply is still streaming/);
});

t.test('sending carries the conversation so far; save and quit are effects; a closed model stays closed', async (t) => {
  let { model } = run(base(), [
    { type: 'add-session', spec: { server: 'http://a:1', model: 'o/m' } },
    { type: 'session', id: 's1', update: { type: 'connecting', at: 1, attempt: 1 } },
    {
      type: 'session',
      id: 's1',
      update: { type: 'event', at: 2, event: { status: 'ready', model: 'o/m@main', cached: false } },
    },
  ]);
  const sent = run(model, [ENTER, ...chars('hi'), ENTER]);
  t.same(sent.effects, [{ type: 'send-chat', id: 's1', messages: [{ role: 'user', content: 'hi' }], sampling: {} }]);
  model = { ...model, ui: { ...model.ui, logFocused: true } };
  const saved = run(model, [ctrl('s'), ENTER]);
  t.match(saved.effects, [{ type: 'save-log', filter: { session: null, text: '' } }]);
  const quit = run(model, [key({ ch: 'Q' }), LEFT, ENTER]);
  t.same(quit.effects, [{ type: 'quit' }]);
  t.ok(quit.model.closed);
  const after = updateDashboard(quit.model, { type: 'add-session', spec: { server: 'http://a:1', model: 'o/x' } });
  t.same(after.effects, [], 'nothing happens once closed');
});

t.test('cancel and unload are confirmed, name the resolved model, and report how the request ended', async (t) => {
  let { model } = run(base(), [
    { type: 'add-session', spec: { server: 'http://a:1', model: 'o/m', apiKey: 'k' } },
    { type: 'session', id: 's1', update: { type: 'connecting', at: 1, attempt: 1 } },
    {
      type: 'session',
      id: 's1',
      update: { type: 'event', at: 2, event: { status: 'loading', model: 'o/m@main', stage: 'download' } },
    },
  ]);
  t.same(run(model, [key({ ch: 'C' }), key({ ch: 'y' })]).effects, [], 'a letter keeps the load');
  const cancel = run(model, [key({ ch: 'C' })]);
  t.equal(cancel.model.ui.prompt?.kind, 'cancel', 'asks first');
  t.same(run(cancel.model, CONFIRM).effects, [
    { type: 'unload', id: 's1', kind: 'cancel', server: 'http://a:1', model: 'o/m@main', apiKey: 'k' },
  ]);
  model = run(model, [
    { type: 'unload-done', id: 's1', kind: 'cancel', model: 'o/m@main', failure: null, at: 5 },
  ]).model;
  t.match(model.notice?.text, /s1: cancelled the load of o\/m@main for every client/);
  model = run(model, [
    {
      type: 'session',
      id: 's1',
      update: { type: 'event', at: 3, event: { status: 'ready', model: 'o/m@main', cached: false } },
    },
  ]).model;
  const nothing = run(model, [key({ ch: 'C' }), ...CONFIRM]);
  t.same(nothing.effects, [], 'nothing to cancel once ready');
  t.match(nothing.model.notice?.text, /no load is running to cancel/);
  t.same(
    run(model, [key({ ch: 'U' }), ...CONFIRM]).effects.map((e) => e.type),
    ['unload'],
  );
  const failed = run(model, [
    {
      type: 'unload-done',
      id: 's1',
      kind: 'unload',
      model: 'o/m@main',
      failure: { kind: 'http', status: 404, message: 'HTTP 404: not loaded' },
      at: 6,
    },
  ]);
  t.match(failed.model.notice, { tone: 'error', text: /could not unload o\/m@main: HTTP 404/ });
});

t.test('server actions reach that server’s view; a server without a feed is polled', async (t) => {
  let { model } = run(base(), [{ type: 'add-session', spec: { server: 'http://a:1', model: 'o/m' } }]);
  model = run(model, [
    { type: 'server', root: 'http://a:1', action: { type: 'feed-status', at: 1, status: { state: 'live', since: 1 } } },
    {
      type: 'server',
      root: 'http://a:1',
      action: {
        type: 'feed',
        at: 2,
        update: {
          type: 'load',
          subscribers: 2,
          event: { status: 'loading', model: 'o/other@main', stage: 'download', progress: { current: 5, total: 10 } },
        },
      },
    },
  ]).model;
  t.match(model.servers['http://a:1']?.rows['o/other@main'], { state: 'loading', stage: 'download', subscribers: 2 });
  const unsupported = updateDashboard(model, {
    type: 'server',
    root: 'http://a:1',
    action: {
      type: 'feed-status',
      at: 3,
      status: { state: 'unsupported', failure: { kind: 'http', status: 404, message: 'no feed' } },
    },
  });
  t.same(unsupported.effects, [{ type: 'poll-models', root: 'http://a:1', apiKey: undefined }]);
  t.equal(
    updateDashboard(model, {
      type: 'server',
      root: 'http://b:2',
      action: { type: 'poll-failed', at: 1, failure: { kind: 'network', message: 'x' } },
    }).model,
    model,
    'an unknown server changes nothing',
  );
});

t.test('v toggles the server view', async (t) => {
  const { model } = run(base(), [
    { type: 'add-session', spec: { server: 'http://a:1', model: 'o/m' } },
    key({ ch: 'v' }),
  ]);
  t.equal(model.ui.serverView, true);
  t.equal(run(model, [key({ ch: 'v' })]).model.ui.serverView, false);
});

t.test(
  'a model prompt asks its server for ids once, with the key a session would use; Tab reads the answer',
  async (t) => {
    const { model } = run(base(), [
      { type: 'add-session', spec: { server: 'http://b:2', model: 'o/m', apiKey: 'k-b' } },
    ]);
    const opened = run(model, [ctrl('n'), ...chars('http://b:2/v1'), ENTER]);
    t.same(
      opened.effects.filter((e) => e.type === 'list-models'),
      [{ type: 'list-models', root: 'http://b:2', apiKey: 'k-b' }],
      "asked with the key of the server's session",
    );
    t.same(promptModelChoices(opened.model), { ids: [], state: 'asking', message: null }, 'asking, nothing yet');
    const elsewhere = run(base(), [ctrl('n'), ENTER]);
    t.same(
      elsewhere.effects,
      [{ type: 'list-models', root: 'http://a:1', apiKey: 'k-default' }],
      'no session there: the --api-key key',
    );

    const listed = run(opened.model, [
      { type: 'models-listed', root: 'http://b:2', outcome: { ok: true, ids: ['o/zeta@main', 'o/alpha@main'] } },
    ]);
    t.same(promptModelChoices(listed.model)?.ids, ['o/alpha@main', 'o/zeta@main'], 'sorted');
    const tabbed = run(listed.model, [...chars('o/a'), key({ name: 'tab' })]);
    t.equal(tabbed.model.ui.prompt?.text, 'o/alpha@main', 'Tab completes from the answer');
    const again = run(tabbed.model, [key({ name: 'escape' }), ctrl('n'), ...chars('http://b:2'), ENTER]);
    t.same(
      again.effects.filter((e) => e.type === 'list-models'),
      [],
      'a server that answered is not asked again',
    );
    t.equal(again.model.ui.prompt?.kind, 'add-model', 'though its model prompt opened');

    const failed = run(opened.model, [
      { type: 'models-listed', root: 'http://b:2', outcome: { ok: false, message: 'HTTP 401: bad key k-b' } },
    ]);
    t.same(
      promptModelChoices(failed.model),
      { ids: [], state: 'failed', message: 'HTTP 401: bad key [redacted]' },
      'a failure is kept, any key redacted from it',
    );
    const retried = run(failed.model, [key({ name: 'escape' }), ctrl('n'), ...chars('http://b:2'), ENTER]);
    t.equal(retried.effects.filter((e) => e.type === 'list-models').length, 1, 'after a failure it asks again');
  },
);

t.test(
  '--read-only: sessions start watch-only, U and C refuse at the key, and a waiting session follows a load',
  async (t) => {
    const start = createDashboardModel({ defaultServer: 'http://a:1', readOnly: true });
    const { model: first, effects } = run(start, [
      { type: 'add-session', spec: { server: 'http://a:1', model: 'o/m' } },
    ]);
    t.same(effects[0], {
      type: 'start-session',
      id: 's1',
      spec: { server: 'http://a:1', model: 'o/m', readOnly: true },
    });
    t.same(first.sessions['s1']?.spec, { server: 'http://a:1', model: 'o/m' }, 'the spec keeps what was given');
    for (const ch of ['U', 'C']) {
      const r = run(first, [key({ ch })]);
      t.same([r.effects, r.model.ui.prompt], [[], null], `${ch}: nothing`);
      t.match(r.model.notice?.text, /^read-only: (unload|cancel) is off/);
    }
    // The model was not loaded: the session waits; the server's feed shows another client's load: it tries again.
    const model = run(first, [
      {
        type: 'session',
        id: 's1',
        update: {
          type: 'failed',
          at: 1,
          failure: { kind: 'read-only', message: 'o/m is not loaded on the server' },
          retryAt: null,
        },
      },
    ]).model;
    const feed = (status: 'loading' | 'ready', model: string): DashboardAction => ({
      type: 'server',
      root: 'http://a:1',
      action: {
        type: 'feed',
        at: 2,
        update: {
          type: 'load',
          subscribers: 1,
          event: status === 'loading' ? { status, model, stage: 'download' } : { status, model, cached: false },
        },
      },
    });
    t.same(run(model, [feed('loading', 'o/other@main')]).effects, [], 'another model: nothing');
    t.same(run(model, [feed('loading', 'o/m@main')]).effects, [{ type: 'retry', id: 's1' }], 'its model: it joins');
    const own = createDashboardModel({ defaultServer: 'http://a:1' });
    const alone = run(own, [{ type: 'add-session', spec: { server: 'http://a:1', model: 'o/m', readOnly: true } }]);
    t.match(run(alone.model, [key({ ch: 'U' })]).model.notice?.text, /read-only/, 'a session read-only on its own');
  },
);

t.test('the quit dialog saves the log and the changed sessions, then quits; Ctrl-S writes them', async (t) => {
  const path = 'dash.json';
  const spec = { server: 'http://a:1', model: 'o/m', apiKey: 'k', keyOrigin: { kind: 'env', name: 'K' } } as const;
  const start = createDashboardModel({ defaultServer: 'http://a:1', config: { path, sessions: [spec] } });
  const withLog = { ...world, logEntries: 3, now: Date.UTC(2026, 0, 2, 3, 4, 5) };
  const press = (k: KeyPress): DashboardAction => ({ type: 'key', key: k, world: withLog });
  let { model } = run(start, [{ type: 'add-session', spec }]);
  t.notOk(sessionsChanged(model), 'the sessions are what the file holds');
  const asked = run(model, [press({ ch: 'Q' })]).model.ui.prompt;
  t.same(asked?.choices, ['save-quit', 'quit', 'keep']);
  t.equal(asked?.saves?.sessions, undefined, 'unchanged sessions are not offered');
  model = run(model, [{ type: 'add-session', spec: { server: 'http://b:2', model: 'o/n' } }]).model;
  t.ok(sessionsChanged(model));
  const saving = run(model, [
    press({ ch: 'Q' }),
    press({ name: 'left' }),
    press({ name: 'left' }),
    press({ name: 'enter' }),
  ]);
  const log = saving.effects[0]?.type === 'save-and-quit' ? saving.effects[0].log : undefined;
  t.match(log, /^modeldeck-events-\d{8}-\d{6}\.jsonl$/);
  t.same(saving.effects, [
    {
      type: 'save-and-quit',
      log,
      sessions: {
        path,
        sessions: [
          { tag: 's1', spec },
          { tag: 's2', spec: { server: 'http://b:2', model: 'o/n' } },
        ],
      },
    },
  ]);
  t.notOk(saving.model.closed, 'not closed until saved');
  t.match(saving.model.notice?.text, /^saving .* and dash\.json before quitting/);

  const write = run(model, [press({ name: 's', ctrl: true }), press({ name: 'enter' })]);
  t.match(write.effects, [{ type: 'write-sessions', path, overwrite: true }]);
  const written = run(model, [
    { type: 'sessions-written', path: 'other.json', signature: 'x', text: 'wrote 2 sessions' },
  ]);
  t.same([written.model.configPath, written.model.notice], ['other.json', { text: 'wrote 2 sessions', tone: 'ok' }]);
  const exists = run(model, [{ type: 'sessions-exist', path: 'other.json' }]).model.ui.prompt;
  t.same(exists, {
    kind: 'save-sessions',
    text: 'other.json',
    overwrite: 'other.json',
    error: 'other.json exists: Enter writes over it, or give another name',
  });
});
