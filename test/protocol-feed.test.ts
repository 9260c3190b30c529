import t from 'tap';
import { serializeLoadEvent } from '../src/protocol/events.js';
import { FEED_EVENT_NAMES, feedId, parseFeedEvent, parseFeedId, UNLOAD_REASONS } from '../src/protocol/feed.js';

t.test('feed ids name the run and a sequence', async (t) => {
  t.equal(feedId('5f2a91c3', 42), '5f2a91c3-42');
  t.strictSame(parseFeedId('5f2a91c3-42'), { boot: '5f2a91c3', sequence: 42 });
  for (const bad of ['', '42', '-1', 'ab-', 'AB-1', 'ab-1.5', 'ab-1-2', `ab-${'9'.repeat(16)}`]) {
    t.equal(parseFeedId(bad), undefined, JSON.stringify(bad));
  }
});

t.test('every event the server writes reads back', async (t) => {
  const load = {
    status: 'loading',
    model: 'a/b@main',
    stage: 'download',
    progress: { current: 5, total: 10 },
  } as const;
  const cases = [
    {
      event: 'snapshot',
      data: {
        models: [
          {
            model: 'a/b@main',
            state: 'resident',
            size_bytes: 1190000,
            dtype: 'q8',
            idle_ms: 5,
            active_requests: 0,
            expires_at: '2026-03-19T10:05:00.000Z',
            expires_in_ms: 299995,
          },
          { model: 'c/d@main', state: 'loading', stage: 'weights', progress: { current: 1, total: 3 }, subscribers: 2 },
          {
            model: 'q/r@main',
            state: 'loading',
            stage: 'queued',
            queue: { position: 2, reason: 'model_slot', held_by: ['a/b@main', 'c/d@main'] },
            subscribers: 1,
          },
          { model: 'e/f@main', state: 'cached' },
          {
            model: 'g/h@main',
            state: 'resident',
            size_bytes: null,
            idle_ms: 0,
            active_requests: 1,
            expires_at: null,
            expires_in_ms: null,
          },
        ],
        pulls: [
          { model: 'p/q@main', stage: 'download', progress: { current: 1, total: 9 }, subscribers: 0 },
          { model: 's/t@main', stage: 'queued', queue: { position: 1, reason: 'load_slot' }, subscribers: 1 },
        ],
        memory: { rss_bytes: 400_000_000, weights_bytes: 1190000, budget_bytes: null },
      },
    },
    { event: 'memory', data: { rss_bytes: 400_000_000, weights_bytes: 0, budget_bytes: 60_000_000 } },
    { event: 'unload', data: { model: 'a/b@main', reason: 'evicted' } },
    { event: 'chat_start', data: { model: 'a/b@main', request: 'chatcmpl-1' } },
    { event: 'expiry', data: { model: 'a/b@main', expires_at: '2026-03-19T10:05:00.000Z', expires_in_ms: 300000 } },
    { event: 'expiry', data: { model: 'a/b@main', expires_at: null, expires_in_ms: null } },
    {
      event: 'chat_end',
      data: {
        model: 'a/b@main',
        request: 'chatcmpl-1',
        outcome: 'stop',
        prompt_tokens: 12,
        completion_tokens: 31,
        tokens_per_second: 412.5,
      },
    },
  ] as const;
  for (const c of cases) {
    t.strictSame(parseFeedEvent(c.event, 'x-1', JSON.stringify(c.data)), {
      ok: true,
      event: { event: c.event, id: 'x-1', data: c.data },
    });
  }
  const queued = {
    status: 'loading',
    model: 'a/b@main',
    stage: 'queued',
    queue: { position: 1, reason: 'load_slot', running: 2, held_by: ['c/d@main', 'e/f@main'] },
  } as const;
  const ready = { status: 'ready', model: 'a/b@main', cached: false, size_bytes: 1190000, dtype: 'q8' } as const;
  for (const event of [load, queued, ready]) {
    for (const name of ['load', 'pull'] as const) {
      t.strictSame(parseFeedEvent(name, 'x-2', serializeLoadEvent(event)), {
        ok: true,
        event: { event: name, id: 'x-2', data: event },
      });
    }
  }
  t.strictSame(FEED_EVENT_NAMES, ['snapshot', 'load', 'pull', 'unload', 'chat_start', 'chat_end', 'expiry', 'memory']);
  for (const reason of UNLOAD_REASONS) {
    t.ok(parseFeedEvent('unload', 'x-3', JSON.stringify({ model: 'a/b@main', reason })).ok, reason);
  }
});

t.test('what is not a feed event is refused with a reason, never thrown', async (t) => {
  const cases: [string, string, string, RegExp][] = [
    ['load', '', '{}', /without an id/],
    ['gossip', 'x-1', '{}', /unknown feed event/],
    ['unload', 'x-1', 'not json', /not JSON/],
    ['unload', 'x-1', '[]', /not a JSON object/],
    ['unload', 'x-1', '{"model": "a/b@main", "reason": "bored"}', /unknown "reason"/],
    ['snapshot', 'x-1', '{"models": {}}', /"models" array/],
    ['memory', 'x-1', '{"rss_bytes": "a lot"}', /rss_bytes/],
    ['snapshot', 'x-1', '{"models": [{"model": "a/b@main", "state": "gone"}]}', /bad model entry/],
    ['chat_start', 'x-1', '{"model": "a/b@main"}', /"request"/],
    ['chat_end', 'x-1', '{"model": "a", "request": "r", "outcome": "maybe"}', /unknown "outcome"/],
    [
      'chat_end',
      'x-1',
      '{"model": "a", "request": "r", "outcome": "stop", "prompt_tokens": -1, "completion_tokens": 1, "tokens_per_second": 1}',
      /non-negative/,
    ],
    ['load', 'x-1', '{"status": "done", "model": "a/b@main"}', /unknown "status"/],
    ['expiry', 'x-1', '{"expires_at": null, "expires_in_ms": null}', /no "model"/],
    ['expiry', 'x-1', '{"model": "a", "expires_at": "soon", "expires_in_ms": 5}', /RFC 3339/],
    ['expiry', 'x-1', '{"model": "a", "expires_at": null, "expires_in_ms": 5}', /both or neither null/],
    ['expiry', 'x-1', '{"model": "a", "expires_at": "2026-03-19T10:05:00Z", "expires_in_ms": -5}', /RFC 3339/],
  ];
  for (const [name, id, data, reason] of cases) {
    const parsed = parseFeedEvent(name, id, data);
    t.equal(parsed.ok, false, `${name} ${data}`);
    if (!parsed.ok) t.match(parsed.error, reason);
  }
});
