// The session client over real sockets: scripted HTTP servers for the quirks of other servers, and the controller's
// reconnection with a capped backoff.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { streamChat } from '../src/client/chat-stream.js';
import type { RawFrame } from '../src/client/frames.js';
import { subscribeLoad } from '../src/client/load-subscription.js';
import { backoffDelay } from '../src/common/retry.js';
import { serviceRoot } from '../src/client/server-url.js';
import { createSessionController } from '../src/client/session-controller.js';
import { createSessionState, reduceSession, type SessionAction } from '../src/tui/session-state.js';
import { ENDED_EARLY_MESSAGE, type LoadEvent } from '../src/protocol/events.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** A server answering each request with `handler`, recording what it received. */
async function scripted(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      handler(req, res, seen.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const sse = (res: ServerResponse, body: string): void => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(body);
};

async function load(url: string, extra: { apiKey?: string } = {}) {
  const events: LoadEvent[] = [];
  const frames: RawFrame[] = [];
  const outcome = await subscribeLoad({
    server: url,
    model: 'org/m',
    ...extra,
    onEvent: (e) => events.push(e),
    onFrame: (f) => frames.push(f),
  });
  return { outcome, events, frames };
}

t.test('serviceRoot drops trailing slashes and /v1', async (t) => {
  t.equal(serviceRoot('http://h:1/v1'), 'http://h:1');
  t.equal(serviceRoot('http://h:1/v1/'), 'http://h:1');
  t.equal(serviceRoot('http://h:1/'), 'http://h:1');
  t.equal(serviceRoot('https://h/api/v1'), 'https://h/api');
  t.equal(serviceRoot('http://h:1/v10'), 'http://h:1/v10');
});

t.test(
  "upstream's framing: no space, CRLF, comments, event/id/retry lines, total null; /v1 base; bearer key",
  async (t) => {
    const srv = await scripted((_req, res) =>
      sse(
        res,
        ': hello\r\n\r\n' +
          'event: progress\r\nid: 1\r\nretry: 500\r\ndata:{"status":"loading","model":"org/m@main","stage":"download","progress":{"current":10,"total":null}}\r\n\r\n' +
          'data: {"status": "loading", "model": "org/m@main", "stage": "mystery", "x": 1}\r\n\r\n' +
          'data: not json\r\n\r\n' +
          'data: {"status": "ready", "model": "org/m@main", "cached": false}\r\n\r\n',
      ),
    );
    t.teardown(srv.close);
    const { outcome, events, frames } = await load(`${srv.url}/v1`, { apiKey: 'k-1' });
    t.same(outcome, { ok: true, event: { status: 'ready', model: 'org/m@main', cached: false } });
    t.same(
      events.map((e) => (e.status === 'loading' ? e.stage : e.status)),
      ['download', 'mystery', 'ready'],
    );
    t.same(events[0], {
      status: 'loading',
      model: 'org/m@main',
      stage: 'download',
      progress: { current: 10, total: null },
    });
    t.same(srv.seen[0], { method: 'POST', url: '/load_model', authorization: 'Bearer k-1', body: '{"model":"org/m"}' });
    t.same(
      frames.filter((f) => f.kind === 'comment'),
      [{ kind: 'comment', raw: 'hello' }],
      'the comment, marked',
    );
    t.ok(
      frames.some((f) => f.kind === 'data' && f.raw === 'not json'),
      'an unreadable frame is logged as received',
    );
    t.ok(
      frames.some((f) => f.kind === 'other' && f.raw.startsWith('skipped a frame')),
      'and noted as skipped',
    );
    t.ok(
      frames.some((f) => f.kind === 'other' && f.raw === 'retry: 500'),
      'retry lines are noted',
    );
  },
);

t.test('a stream that ends without a terminal event is an error, never a success', async (t) => {
  const srv = await scripted((_req, res) =>
    sse(res, 'data: {"status": "loading", "model": "org/m@main", "stage": "processor"}\n\n'),
  );
  t.teardown(srv.close);
  const { outcome } = await load(srv.url);
  t.same(outcome, { ok: false, failure: { kind: 'ended-early', message: ENDED_EARLY_MESSAGE } });

  const cut = await scripted((_req, res) => sse(res, 'data: {"status": "ready", "model": "org/m@main"'));
  t.teardown(cut.close);
  t.same(
    (await load(cut.url)).outcome,
    { ok: false, failure: { kind: 'ended-early', message: ENDED_EARLY_MESSAGE } },
    'a terminal event cut off before its blank line does not count',
  );
});

t.test('HTTP errors name the status and the body; a non-stream answer is a protocol error', async (t) => {
  const srv = await scripted((req, res, n) => {
    if (n === 1) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error": {"message": "the API key is not valid for this server", "code": "invalid_api_key"}}');
    } else if (n === 2) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"detail": "Not Found"}');
    } else if (n === 3) {
      res.writeHead(422, { 'content-type': 'application/json' });
      res.end('{"detail": [{"loc": ["body", "model"], "msg": "Field required"}]}');
    } else if (n === 4) {
      res.writeHead(500);
      res.end('boom');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok": true}');
    }
    void req;
  });
  t.teardown(srv.close);
  const first = await load(srv.url);
  t.same(first.outcome, {
    ok: false,
    failure: {
      kind: 'http',
      status: 401,
      message: 'HTTP 401 Unauthorized: the API key is not valid for this server',
      code: 'invalid_api_key',
    },
  });
  t.ok(
    first.frames.some((f) => f.kind === 'other' && f.raw.startsWith('HTTP 401')),
    'the answer is logged',
  );
  t.same((await load(srv.url)).outcome, {
    ok: false,
    failure: { kind: 'http', status: 404, message: 'HTTP 404 Not Found: Not Found' },
  });
  t.same((await load(srv.url)).outcome, {
    ok: false,
    failure: { kind: 'http', status: 422, message: 'HTTP 422 Unprocessable Entity: Field required' },
  });
  t.same((await load(srv.url)).outcome, {
    ok: false,
    failure: { kind: 'http', status: 500, message: 'HTTP 500 Internal Server Error: boom' },
  });
  const notStream = await load(srv.url);
  t.equal(notStream.outcome.ok, false);
  t.match(notStream.outcome, { failure: { kind: 'protocol', message: /not an event stream/ } });
});

t.test('an unreachable server is a network failure naming the cause', async (t) => {
  const srv = await scripted(() => {});
  const url = srv.url;
  await srv.close();
  const { outcome } = await load(url);
  t.match(outcome, {
    ok: false,
    failure: { kind: 'network', message: /^cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/ },
  });
});

t.test('chat: deltas streamed; [DONE] or a finish_reason ends it; an error frame or an early end fails', async (t) => {
  const chunk = (content: string | null, finish: string | null = null): string =>
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }] })}\n\n`;
  const srv = await scripted((_req, res, n) => {
    if (n === 1) sse(res, chunk('Hel') + chunk('lo') + chunk(null, 'stop') + 'data: [DONE]\n\n');
    else if (n === 2)
      sse(res, chunk('up') + chunk('stream', 'stop')); // upstream: no [DONE]
    else if (n === 3) sse(res, chunk('par') + 'data: {"error": {"message": "generation failed: oops"}}\n\n');
    else sse(res, chunk('cut'));
  });
  t.teardown(srv.close);
  const run = async () => {
    let text = '';
    const outcome = await streamChat({
      server: `${srv.url}/v1/`,
      model: 'org/m',
      apiKey: 'k-2',
      messages: [{ role: 'user', content: 'hi' }],
      onDelta: (d) => (text += d),
    });
    return { outcome, text };
  };
  t.same(await run(), { outcome: { ok: true }, text: 'Hello' });
  t.same(srv.seen[0]?.url, '/v1/chat/completions');
  t.same(srv.seen[0]?.authorization, 'Bearer k-2');
  t.same(JSON.parse(srv.seen[0]?.body ?? '{}'), {
    model: 'org/m',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  t.same(await run(), { outcome: { ok: true }, text: 'upstream' }, 'no [DONE] after a finish_reason is fine');
  t.same(await run(), {
    outcome: { ok: false, failure: { kind: 'server', message: 'generation failed: oops' } },
    text: 'par',
  });
  t.same(await run(), {
    outcome: { ok: false, failure: { kind: 'ended-early', message: 'the reply ended before it finished' } },
    text: 'cut',
  });
});

t.test('backoff doubles and is capped', async (t) => {
  const b = { initialMs: 100, maxMs: 1000 };
  t.same(
    [1, 2, 3, 4, 5, 6, 50].map((n) => backoffDelay(n, b)),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
});

t.test('the controller reconnects lost streams with backoff, stops on errors that need the user', async (t) => {
  // 1: cut short; 2: 503; 3: ready. Then after retry(): 4: 401 (no automatic retry).
  const srv = await scripted((_req, res, n) => {
    if (n === 1) sse(res, 'data: {"status": "loading", "model": "org/m@main", "stage": "processor"}\n\n');
    else if (n === 2) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error": {"message": "busy"}}');
    } else if (n === 3) sse(res, 'data: {"status": "ready", "model": "org/m@main", "cached": true}\n\n');
    else {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error": {"message": "nope"}}');
    }
  });
  t.teardown(srv.close);
  // A hand-driven clock: timers run only when the test says so, and their delays are recorded.
  let now = 0;
  const timers: { fn: () => void; ms: number }[] = [];
  const clock = {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => {
      const timer = { fn, ms };
      timers.push(timer);
      return timer;
    },
    clearTimeout: (h: unknown) => {
      const i = timers.indexOf(h as (typeof timers)[number]);
      if (i !== -1) timers.splice(i, 1);
    },
  };
  const actions: SessionAction[] = [];
  let state = createSessionState({ id: 's1', tag: 's1', server: srv.url, model: 'org/m' });
  let settle: () => void = () => {};
  const controller = createSessionController({
    server: srv.url,
    model: 'org/m',
    clock,
    backoff: { initialMs: 100, maxMs: 150 },
    dispatch: (a) => {
      actions.push(a);
      state = reduceSession(state, a);
      settle();
    },
    onFrame: () => {},
  });
  t.teardown(() => controller.close());
  const next = (pred: () => boolean) =>
    new Promise<void>((resolve) => {
      if (pred()) return resolve();
      settle = () => pred() && resolve();
    });

  controller.start();
  controller.start();
  await next(() => state.phase === 'reconnecting');
  t.equal(state.error?.kind, 'ended-early');
  t.same(
    timers.map((x) => x.ms),
    [100],
    'first retry after the initial delay',
  );
  now = 100;
  timers.shift()?.fn();
  await next(() => state.phase === 'reconnecting' && state.error?.kind === 'http');
  t.same(
    timers.map((x) => x.ms),
    [150],
    'the next one doubled, capped at 150',
  );
  t.equal(state.attempt, 2);
  timers.shift()?.fn();
  await next(() => state.phase === 'cached');
  t.equal(state.attempt, 3);
  t.same(timers, [], 'no timer left once ready');

  controller.retry();
  await next(() => state.phase === 'error');
  t.same(state.error, { kind: 'http', status: 401, message: 'HTTP 401 Unauthorized: nope' });
  t.same(timers, [], 'a 401 waits for the user');
  t.equal(srv.seen.length, 4, 'one request per attempt; start() twice did not subscribe twice');
  t.same(
    actions.filter((a) => a.type === 'connecting').map((a) => (a.type === 'connecting' ? a.attempt : 0)),
    [1, 2, 3, 1],
  );
});
