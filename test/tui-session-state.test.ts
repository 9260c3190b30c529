// The session reducer, pure, over recorded event streams: modeldeck's own, and upstream's quirks.
import t from 'tap';
import { parseLoadEvent, type LoadEvent } from '../src/protocol/events.js';
import {
  canChat,
  chatHistory,
  createSessionState,
  reduceSession,
  TRANSCRIPT_LIMIT,
  type SessionAction,
  type SessionState,
} from '../src/tui/session-state.js';

const fresh = (): SessionState => createSessionState({ id: 's1', tag: 's1', server: 'http://h:1', model: 'org/m' });

/** Parses recorded `data:` payloads (as the wire carried them) into events, one per 100 ms from t=1000. */
function recorded(payloads: string[]): SessionAction[] {
  return payloads.map((data, i) => {
    const parsed = parseLoadEvent(data);
    if (!parsed.ok) throw new Error(parsed.error);
    return { type: 'event', at: 1000 + (i + 1) * 100, event: parsed.event };
  });
}

function run(actions: SessionAction[], start = fresh()): SessionState[] {
  const states: SessionState[] = [];
  let state = reduceSession(start, { type: 'connecting', at: 1000, attempt: 1 });
  states.push(state);
  for (const action of actions) {
    state = reduceSession(state, action);
    states.push(state);
  }
  return states;
}

// A fresh load as modeldeck's server sent it (see the protocol page), byte for byte.
const MODELDECK_FRESH = [
  '{"status": "loading", "model": "org/m@main", "stage": "processor"}',
  '{"status": "loading", "model": "org/m@main", "stage": "config"}',
  '{"status": "loading", "model": "org/m@main", "stage": "download", "progress": {"current": 0, "total": 1000000}}',
  '{"status": "loading", "model": "org/m@main", "stage": "download", "progress": {"current": 250000, "total": 1000000}}',
  '{"status": "loading", "model": "org/m@main", "stage": "download", "progress": {"current": 1000000, "total": 1000000}}',
  '{"status": "loading", "model": "org/m@main", "stage": "weights", "progress": {"current": 1, "total": 3}}',
  '{"status": "loading", "model": "org/m@main", "stage": "weights", "progress": {"current": 3, "total": 3}}',
  '{"status": "ready", "model": "org/m@main", "cached": false}',
];

t.test('a fresh load: phases, stages with times, gauges, rate', async (t) => {
  const states = run(recorded(MODELDECK_FRESH));
  t.same(
    states.map((s) => `${s.phase}${s.stage ? `:${s.stage}` : ''}`),
    [
      'connecting',
      'loading:processor',
      'loading:config',
      'loading:download',
      'loading:download',
      'loading:download',
      'loading:weights',
      'loading:weights',
      'ready:weights',
    ],
  );
  const last = states.at(-1) as SessionState;
  t.same(
    last.stages.map((s) => [s.name, s.startedAt, s.endedAt]),
    [
      ['processor', 1100, 1200],
      ['config', 1200, 1300],
      ['download', 1300, 1600],
      ['weights', 1600, 1800],
    ],
    'every stage with its start and end',
  );
  t.same([last.download?.current, last.download?.total], [1_000_000, 1_000_000]);
  t.same([last.weights?.current, last.weights?.total], [3, 3]);
  t.equal(last.resolvedModel, 'org/m@main');
  t.ok(canChat(last));
  const midDownload = states[4] as SessionState;
  t.ok(midDownload.download?.rate !== null && (midDownload.download?.rate ?? 0) > 0, 'a rate after two samples');
  t.equal((states[3] as SessionState).download?.rate, null, 'no rate from one sample');
});

t.test("upstream's quirks: total null, unknown stage, extra fields, no spaces, cached ready", async (t) => {
  const states = run(
    recorded([
      '{"status":"loading","model":"org/m@main","stage":"processor","extra":1}',
      '{"status":"loading","model":"org/m@main","stage":"download","progress":{"current":100,"total":null}}',
      '{"status":"loading","model":"org/m@main","stage":"download","progress":{"current":900,"total":null}}',
      '{"status":"loading","model":"org/m@main","stage":"quantizing","progress":{"current":1,"total":2}}',
      '{"status":"loading","model":"org/m@main","stage":"weights"}',
      '{"status":"ready","model":"org/m@main"}',
    ]),
  );
  const last = states.at(-1) as SessionState;
  t.equal(last.phase, 'ready', 'a ready without "cached" is a plain ready');
  t.same(last.download && [last.download.current, last.download.total], [900, null], 'bytes so far, total unknown');
  t.same(
    last.stages.map((s) => s.name),
    ['processor', 'download', 'quantizing', 'weights'],
    'the unknown stage by name',
  );
  t.equal(last.weights, null, 'a weights stage without progress leaves the gauge empty');

  const cached = run(recorded(['{"status": "ready", "model": "org/m@main", "cached": true}'])).at(-1) as SessionState;
  t.equal(cached.phase, 'cached');
  t.ok(canChat(cached));
});

t.test('an error event, then a retry: the next attempt replaces the old progress', async (t) => {
  let state = run(
    recorded([
      '{"status": "loading", "model": "org/m@main", "stage": "download", "progress": {"current": 5, "total": 10}}',
      '{"status": "error", "model": "org/m@main", "message": "disk full", "code": "CACHE_NOT_WRITABLE"}',
    ]),
  ).at(-1) as SessionState;
  t.equal(state.phase, 'error');
  t.same(state.error, { kind: 'server', message: 'disk full', code: 'CACHE_NOT_WRITABLE' });
  t.equal(state.stages[0]?.endedAt, 1200, 'the running stage is closed at the error');
  t.notOk(canChat(state));

  state = reduceSession(state, { type: 'connecting', at: 5000, attempt: 1 });
  t.equal(state.download?.current, 5, 'old figures stay until the new attempt says something');
  state = reduceSession(state, {
    type: 'event',
    at: 5100,
    event: { status: 'loading', model: 'org/m@main', stage: 'processor' },
  });
  t.equal(state.download, null, 'replaced once it does');
  t.same(
    state.stages.map((s) => s.name),
    ['processor'],
  );
  t.equal(state.error, null, 'the error is cleared by the new events');
});

t.test('a lost connection: reconnecting with the time of the next attempt, then connecting again', async (t) => {
  const events = recorded(MODELDECK_FRESH.slice(0, 4));
  let state = run(events).at(-1) as SessionState;
  state = reduceSession(state, {
    type: 'failed',
    at: 2000,
    failure: { kind: 'ended-early', message: 'stream ended before ready' },
    retryAt: 3000,
  });
  t.equal(state.phase, 'reconnecting');
  t.equal(state.retryAt, 3000);
  t.equal(state.stages.at(-1)?.endedAt, 2000, 'the stage that was running is closed');
  t.equal(state.error?.message, 'stream ended before ready');
  state = reduceSession(state, { type: 'connecting', at: 3000, attempt: 2 });
  t.equal(state.phase, 'reconnecting', 'still reconnecting until an event arrives');
  t.equal(state.attempt, 2);
  t.equal(state.error?.message, 'stream ended before ready', 'the reason stays visible meanwhile');
  state = reduceSession(state, {
    type: 'failed',
    at: 3100,
    failure: { kind: 'http', status: 401, message: 'HTTP 401' },
    retryAt: null,
  });
  t.equal(state.phase, 'error', 'a failure without a retry time is an error');
});

t.test('chat: a streamed reply, a failure, the history to send', async (t) => {
  let state = run(recorded(['{"status": "ready", "model": "org/m@main", "cached": true}'])).at(-1) as SessionState;
  state = reduceSession(state, { type: 'chat-sent', at: 1, text: 'hi' });
  t.ok(state.chatBusy);
  t.same(chatHistory(state), [{ role: 'user', content: 'hi' }], 'the streaming reply is not history yet');
  for (const piece of ['Hel', 'lo', ' there']) state = reduceSession(state, { type: 'chat-delta', at: 2, text: piece });
  t.same(state.transcript.at(-1), {
    role: 'assistant',
    content: 'Hello there',
    streaming: true,
    metrics: { sentAt: 1, firstAt: 2, lastAt: 2, endedAt: null, pieces: 3, usage: null },
  });
  state = reduceSession(state, { type: 'chat-done', at: 3, usage: { prompt: 7, completion: 2 } });
  t.notOk(state.chatBusy);
  t.same(
    state.transcript.at(-1)?.metrics,
    { sentAt: 1, firstAt: 2, lastAt: 2, endedAt: 3, pieces: 3, usage: { prompt: 7, completion: 2 } },
    'the end and the server’s counts are kept with the reply',
  );
  t.same(chatHistory(state), [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'Hello there' },
  ]);

  state = reduceSession(state, { type: 'chat-sent', at: 4, text: 'again' });
  state = reduceSession(state, { type: 'chat-delta', at: 5, text: 'par' });
  state = reduceSession(state, {
    type: 'chat-failed',
    at: 6,
    failure: { kind: 'network', message: 'connection lost mid-reply: ECONNRESET' },
  });
  t.same(state.transcript.slice(-2), [
    {
      role: 'assistant',
      content: 'par',
      streaming: false,
      metrics: { sentAt: 4, firstAt: 5, lastAt: 5, endedAt: 6, pieces: 1, usage: null },
    },
    { role: 'error', content: 'connection lost mid-reply: ECONNRESET', streaming: false },
  ]);
  t.same(
    chatHistory(state).map((m) => m.content),
    ['hi', 'Hello there', 'again', 'par'],
    'errors are never sent back to the model',
  );
  t.same(
    reduceSession(state, { type: 'chat-delta', at: 7, text: 'late' }).transcript,
    state.transcript,
    'a delta with no reply streaming changes nothing',
  );
});

t.test('chat: a stopped reply keeps what arrived, marked, and is history like any other', async (t) => {
  let state = run(recorded(['{"status": "ready", "model": "org/m@main", "cached": true}'])).at(-1) as SessionState;
  state = reduceSession(state, { type: 'chat-sent', at: 1, text: 'hi' });
  state = reduceSession(state, { type: 'chat-delta', at: 2, text: 'half a' });
  state = reduceSession(state, { type: 'chat-stopped', at: 4 });
  t.notOk(state.chatBusy, 'a new message can go out');
  t.same(state.transcript.at(-1), {
    role: 'assistant',
    content: 'half a',
    streaming: false,
    stopped: true,
    metrics: { sentAt: 1, firstAt: 2, lastAt: 2, endedAt: 4, pieces: 1, usage: null },
  });
  t.same(
    chatHistory(state).map((m) => m.content),
    ['hi', 'half a'],
  );
  t.same(
    reduceSession(state, { type: 'chat-delta', at: 5, text: 'late' }).transcript,
    state.transcript,
    'a piece after the stop changes nothing',
  );
});

t.test('the transcript is bounded', async (t) => {
  let state = fresh();
  for (let i = 0; i < TRANSCRIPT_LIMIT; i++) {
    state = reduceSession(state, { type: 'chat-sent', at: i, text: `m${i}` });
    state = reduceSession(state, { type: 'chat-done', at: i });
  }
  t.equal(state.transcript.length, TRANSCRIPT_LIMIT);
  t.equal(state.transcript.at(-2)?.content, `m${TRANSCRIPT_LIMIT - 1}`);
});

t.test('progress never taken from another stage, and events for the same stage do not restart its timer', async (t) => {
  const events: LoadEvent[] = [
    { status: 'loading', model: 'org/m@main', stage: 'weights', progress: { current: 1, total: 4 } },
    { status: 'loading', model: 'org/m@main', stage: 'weights', progress: { current: 2, total: 4 } },
  ];
  const state = run(events.map((event, i) => ({ type: 'event', at: 100 * (i + 1), event }))).at(-1) as SessionState;
  t.equal(state.download, null);
  t.same(state.stages, [{ name: 'weights', startedAt: 100, endedAt: null }]);
});

t.test(
  "upstream's download total grows as files are found, and may be null: the latest figures, one stage, a sane rate",
  async (t) => {
    const download = (current: number, total: number | null) =>
      `{"status": "loading", "model": "org/m@main", "stage": "download", "progress": {"current": ${current}, "total": ${total === null ? 'null' : total}}}`;
    const states = run(
      recorded([
        '{"status": "loading", "model": "org/m@main", "stage": "processor"}',
        download(0, null),
        download(400_000, 500_000),
        download(500_000, 500_000),
        download(650_000, 2_500_000),
        download(1_800_000, 2_500_000),
        download(2_700_000, null),
        download(2_700_000, 2_700_000),
        '{"status": "ready", "model": "org/m@main", "cached": false}',
      ]),
    );
    t.same(
      states.slice(2, 9).map((s) => [s.download?.current, s.download?.total]),
      [
        [0, null],
        [400_000, 500_000],
        [500_000, 500_000],
        [650_000, 2_500_000],
        [1_800_000, 2_500_000],
        [2_700_000, null],
        [2_700_000, 2_700_000],
      ],
      'each frame replaces the figures: a grown total, and a null one, are taken as sent',
    );
    for (const s of states.slice(3, 9)) {
      const rate = s.download?.rate;
      t.ok(
        rate !== null && rate !== undefined && Number.isFinite(rate) && rate >= 0,
        `a finite rate (${String(rate)})`,
      );
    }
    const last = states.at(-1) as SessionState;
    t.equal(last.phase, 'ready');
    t.same(
      last.stages.map((s) => [s.name, s.startedAt, s.endedAt]),
      [
        ['processor', 1100, 1200],
        ['download', 1200, 1900],
      ],
      'a changed total does not restart the stage or its timer',
    );
  },
);
