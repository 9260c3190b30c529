// Issue: "A server that goes away mid-load or mid-chat: the session says so and reconnects with a capped backoff
// (re-POSTing /load_model is safe), without disturbing the other sessions". The dashboard on a headless terminal, as in
// test/tui-dashboard.test.ts: against two real modeldeck servers (one killed mid-load), and against a scripted server
// whose chat stream is cut mid-reply. Assertions read the screen's text, as a person would.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { startDashboard } from '../src/tui/dashboard.js';
import type { SessionPhase } from '../src/tui/session-state.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, ROWS, startKillableServer, terminal } from './helpers/dashboard.js';
import { until } from './helpers/until.js';
import { createFakeClock } from './helpers/fake-clock.js';

const MODEL = 'modeldeck/tiny-chat';

const models = await demoModelsDir();

/** Cell text with its line breaks (wrapping) folded into spaces, for matching sentences. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

const server = startKillableServer;

t.test(
  'server A killed mid-load: A says so and reconnects with a capped backoff; B on server B loads and chats',
  async (t) => {
    // A's hub is slow, so that its load is caught mid-download; B's hub is not throttled.
    const hubA = await startTestMirror(models, { throttle: 60_000 });
    const hubB = await startTestMirror(models);
    t.teardown(() => hubA.close());
    t.teardown(() => hubB.close());
    const first = await server(hubA.url);
    const serverB = await server(hubB.url);
    t.teardown(() => serverB.close());
    t.teardown(() => first.close());

    const backoff = { initialMs: 400, maxMs: 1600 };
    const { input, output } = terminal();
    const dash = startDashboard({
      sessions: [
        { server: first.url, model: MODEL },
        { server: serverB.url, model: MODEL },
      ],
      input,
      output,
      backoff,
      maxTokens: 16,
    });
    t.teardown(() => dash.shutdown());

    // Every phase session B passes through, for the whole test.
    const phasesOfB: SessionPhase[] = [];
    const sampler = setInterval(() => {
      const phase = dash.sessions()[1]?.phase;
      if (phase !== undefined && phasesOfB.at(-1) !== phase) phasesOfB.push(phase);
    }, 10);
    t.teardown(() => clearInterval(sampler));

    await until('A downloading', () => {
      const a = dash.sessions()[0];
      return a?.stage === 'download' && (a.download?.current ?? 0) > 0;
    });
    await first.kill();

    // What a person reads in A's cell: the lost connection, in words, and that it is reconnecting.
    const lost = await until('A reconnecting', () => {
      const text = cellText(dash, 0, 2);
      return text.includes('↻ reconnecting') ? text : undefined;
    });
    t.match(flat(lost), /connection lost mid-load|stream ended before ready/, 'A says the load was cut off');
    t.comment(
      `A, on losing its server: ${lost
        .split('\n')
        .slice(1, 4)
        .map((l) => l.trim())
        .join(' / ')}`,
    );
    t.match(flat(lost), /reconnecting/, 'and that it reconnects');
    t.equal(dash.sessions()[0]?.phase, 'reconnecting');

    // The countdown, as read on screen, while A's server stays away. With a 400 ms start doubling to a 1.6 s cap it
    // reads "1s" for the short waits and "2s" at the cap, never more; the attempt number goes up.
    const countdowns = new Set<number>();
    const attemptsShown = new Set<number>();
    await until('the countdown at its cap, after several refused attempts', () => {
      const text = cellText(dash, 0, 2);
      const m = /↻ reconnecting in (\d+)s(?: \(attempt (\d+)\))?/.exec(text);
      if (m) {
        countdowns.add(Number(m[1]));
        if (m[2] !== undefined) attemptsShown.add(Number(m[2]));
      }
      return countdowns.has(2) && (dash.sessions()[0]?.attempt ?? 0) >= 4;
    });
    const refused = cellText(dash, 0, 2);
    t.match(flat(refused), /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/, 'a refused connection is named');
    t.match(flat(refused), 'check the URL and that the server is running; reconnecting', 'with what is being done');
    t.ok(
      [...countdowns].every((s) => s >= 1 && s <= Math.ceil(backoff.maxMs / 1000)),
      `the countdown never goes past the cap: ${[...countdowns]}`,
    );
    t.ok(
      [...attemptsShown].some((n) => n >= 2),
      `the attempt number is shown: ${[...attemptsShown]}`,
    );

    // Meanwhile B: ready, and it chats. Tab moves to B; typing starts a message.
    await until('B ready', () => cellText(dash, 1, 2).includes('✓ ready'));
    input.write('\t');
    await until('focus on B', () => dash.ui().focus === 1);
    input.write('\rhello B');
    await until('the input line in B', () => cellText(dash, 1, 2).includes('> hello B'));
    input.write('\r');
    const reply = await until('a finished reply in B', () => {
      const b = dash.sessions()[1];
      const last = b?.transcript.at(-1);
      return b && !b.chatBusy && last?.role === 'assistant' && !last.streaming && last.content.length > 0
        ? last.content
        : undefined;
    });
    const cellB = cellText(dash, 1, 2);
    t.match(cellB, 'you: hello B', 'B shows the message');
    t.ok(flat(cellB).replace(/\s/g, '').includes(`model: ${reply}`.replace(/\s/g, '')), 'and the reply', {
      reply,
      cellB,
    });
    t.notMatch(flat(cellB), /reconnecting|cannot reach|connection lost|✗ error/, "nothing of A's trouble in B's cell");
    t.equal(dash.sessions()[1]?.error, null, 'B has no error');
    t.notMatch(cellText(dash, 0, 2), 'hello B', 'the message went to B only');
    t.equal(dash.sessions()[0]?.phase, 'reconnecting', 'A is still reconnecting while B chats');

    // A's server comes back on the same port (same cache); A reconnects by itself and loads there.
    const attemptsBefore = dash.sessions()[0]?.attempt ?? 0;
    hubA.setThrottle(0);
    const second = await server(hubA.url, { port: first.port, cacheDir: first.cacheDir });
    t.teardown(() => second.close());
    const back = await until('A ready again', () => {
      const text = cellText(dash, 0, 2);
      return text.includes('✓ ready') ? text : undefined;
    });
    t.notMatch(flat(back), /cannot reach|connection lost|reconnecting/, 'the failure is gone from the screen');
    t.equal(dash.sessions()[0]?.error, null, 'the error is cleared');
    t.ok((dash.sessions()[0]?.attempt ?? 0) >= attemptsBefore, 'on a later attempt');
    t.ok(second.loadRequests() >= 1, 're-POSTed /load_model to the server that came back');

    // B was never disturbed: one load request, one attempt, never reconnecting or in error.
    clearInterval(sampler);
    t.same(
      phasesOfB.filter((p) => p === 'reconnecting' || p === 'error'),
      [],
      `B's phases: ${phasesOfB}`,
    );
    t.ok(phasesOfB.includes('ready'), `B reached ready: ${phasesOfB}`);
    t.equal(dash.sessions()[1]?.attempt, 1, 'B connected once');
    t.equal(serverB.loadRequests(), 1, "B's server got one /load_model");
    const notes = dash.logEntries().filter((e) => /ECONNREFUSED|connection lost/.test(e.raw));
    t.ok(
      notes.filter((e) => !e.session.startsWith('feed:')).every((e) => e.session === 's1'),
      'connection notes in the log, if any, are tagged s1',
    );
    t.ok(
      notes.filter((e) => e.session.startsWith('feed:')).every((e) => e.session === `feed:${new URL(first.url).host}`),
      "the server feed's notes are tagged with A's feed, never B's",
    );
  },
);

const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'org/tiny@main', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

/**
 * A scripted server: `/load_model` answers a short load and `ready` (docs/protocol.md's framing); the first chat reply
 * streams two pieces and then, when the test calls `cut()`, has its socket destroyed mid-stream; later replies finish.
 * `goAway()` stops it (refusing connections) and `comeBack()` listens again on the same port.
 */
async function scriptedServer() {
  const loads: string[] = [];
  const chats: { messages: { role: string; content: string }[] }[] = [];
  let cut: () => void = () => {};
  const cutNow = new Promise<void>((resolve) => (cut = resolve));
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/load_model') {
        loads.push(body);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('data: {"status": "loading", "model": "org/tiny@main", "stage": "processor"}\n\n');
        res.write('data: {"status": "loading", "model": "org/tiny@main", "stage": "config"}\n\n');
        res.end('data: {"status": "ready", "model": "org/tiny@main", "cached": false}\n\n');
        return;
      }
      if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        chats.push(JSON.parse(body) as (typeof chats)[number]);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(chunk({ role: 'assistant', content: '' }));
        if (chats.length === 1) {
          // Slow: one piece, a pause, another; then the stream hangs until the test cuts it, unfinished.
          res.write(chunk({ content: 'Hello' }));
          setTimeout(() => {
            res.write(chunk({ content: ', wor' }));
            void cutNow.then(() => res.socket?.destroy());
          }, 150);
          return;
        }
        res.write(chunk({ content: 'All ' }));
        setTimeout(() => {
          res.write(chunk({ content: 'good now.' }));
          res.write(chunk({}, 'stop'));
          res.end('data: [DONE]\n\n');
        }, 100);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error": {"message": "no such route"}}');
    });
  };
  let http: Server = createServer(handler);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const stop = (): Promise<void> =>
    new Promise<void>((r) => {
      if (!http.listening) return r();
      http.closeAllConnections();
      http.close(() => r());
    });
  return {
    url: `http://127.0.0.1:${port}`,
    loads,
    chats,
    cut: () => cut(),
    goAway: stop,
    async comeBack() {
      http = createServer(handler);
      await new Promise<void>((r) => http.listen(port, '127.0.0.1', r));
    },
    close: stop,
  };
}

/** A dashboard of one session on the scripted server, on a hand-driven clock, ready to chat. */
async function readyOnScripted(t: Test, backoff: { initialMs: number; maxMs: number }) {
  const srv = await scriptedServer();
  t.teardown(srv.close);
  const time = createFakeClock(Date.now());
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [{ server: srv.url, model: 'org/tiny' }],
    input,
    output,
    clock: time,
    backoff,
  });
  t.teardown(() => dash.shutdown());
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  t.equal(srv.loads.length, 1, 'one /load_model so far');
  return { srv, time, input, dash, cell: () => cellText(dash, 0, 1) };
}

/** Sends `text` from the session's input line, then cuts the reply after its two pieces are on screen. */
async function chatAndCut(ctx: Awaited<ReturnType<typeof readyOnScripted>>, text: string): Promise<string> {
  ctx.input.write(`\r${text}\r`);
  // Partway: both pieces on screen with the streaming cursor, the state line saying it is replying.
  const partway = await until('the partial reply streaming', () => {
    const cell = ctx.cell();
    return cell.includes('model: Hello, wor▍') ? cell : undefined;
  });
  ctx.srv.cut();
  return partway;
}

t.test(
  'a chat reply cut mid-stream: the session says so, keeps the partial reply, re-POSTs /load_model after the backoff, and chats again',
  async (t) => {
    const ctx = await readyOnScripted(t, { initialMs: 2000, maxMs: 8000 });
    const { srv, time, input, dash } = ctx;

    const partway = await chatAndCut(ctx, 'hi');
    t.match(partway, 'replying…', 'while it streams, the state line says so');
    t.match(partway, 'you: hi');

    const failed = await until('the chat failure on screen', () => {
      const cell = ctx.cell();
      return cell.includes('↻ reconnecting') ? cell : undefined;
    });
    // In words: the transcript's error line and the session's error, with the countdown of the first backoff.
    t.match(
      flat(failed),
      /! connection lost mid-reply: [a-z][a-z ]+ \([A-Z_]+\)/,
      'the chat failed, in words, with the code',
    );
    t.match(failed, '↻ reconnecting in 2s', 'reconnecting, with its countdown');
    t.match(flat(failed), 'check the URL and that the server is running; reconnecting', 'and what is being done');
    // The partial reply is kept as it arrived, finished (no cursor): the code's behaviour (session-state.ts).
    t.match(failed, /^model: Hello, wor\s*$/m, 'the partial reply stays in the transcript');
    t.notMatch(failed, '▍', 'no longer marked as streaming');
    t.notMatch(failed, 'replying…', 'not replying any more');
    const s = dash.sessions()[0];
    t.same(
      // Without the timings (tested in tui-chat.test.ts).
      s?.transcript.slice(-3, -1).map(({ metrics: _metrics, ...entry }) => entry),
      [
        { role: 'user', content: 'hi', streaming: false },
        { role: 'assistant', content: 'Hello, wor', streaming: false },
      ],
      'the partial reply is a finished assistant entry',
    );
    t.match(
      s?.transcript.at(-1),
      { role: 'error', content: /^connection lost mid-reply: /, streaming: false },
      'followed by the error entry',
    );
    t.equal(s?.chatBusy, false);
    t.equal(s?.phase, 'reconnecting');
    t.equal((s?.retryAt ?? 0) - time.now(), 2000, 'the next attempt is the initial backoff away');
    // A message typed now is kept, not sent: chat waits for the reconnection.
    input.write('again\r');
    const refusedSend = await until('the notice', () => {
      const status = dash.screenText().split('\n')[ROWS - 1] ?? '';
      return status.includes('not ready yet') ? status : undefined;
    });
    t.match(refusedSend, 's1: the model is not ready yet; the message is kept, send it once the session says ready');
    t.match(ctx.cell(), '> again█', 'the message stays on the input line');
    t.equal(srv.chats.length, 1, 'no chat request while reconnecting');

    // Nothing is re-sent before the backoff ends, however long real time passes: the clock is the test's.
    t.equal(srv.loads.length, 1, 'no /load_model yet');
    time.advance(1000);
    t.match(ctx.cell(), '↻ reconnecting in 1s', 'the countdown counts down');
    t.equal(srv.loads.length, 1, 'still no /load_model');
    time.advance(1000);
    await until('the re-POST of /load_model', () => srv.loads.length === 2);
    t.same(
      srv.loads.map((b) => JSON.parse(b) as unknown),
      [{ model: 'org/tiny' }, { model: 'org/tiny' }],
      'the same load request again',
    );
    const back = await until('ready again', () => {
      const cell = ctx.cell();
      return cell.includes('✓ ready') ? cell : undefined;
    });
    t.notMatch(back, '↻ reconnecting', 'the state line says ready');
    t.match(flat(back), /! connection lost mid-reply/, 'the failure stays in the transcript, where it happened');
    t.equal(dash.sessions()[0]?.error, null, "the session's error is cleared");

    // The server behaves now: the kept message, sent with Enter, gets a full reply.
    input.write('\r');
    const done = await until('a full reply', () => {
      const last = dash.sessions()[0]?.transcript.at(-1);
      return last?.role === 'assistant' && !last.streaming && !dash.sessions()[0]?.chatBusy ? last.content : undefined;
    });
    t.equal(done, 'All good now.');
    const after = ctx.cell();
    t.match(after, 'you: again');
    t.match(after, 'model: All good now.');
    t.notMatch(after, '▍');
    t.equal(srv.chats.length, 2);
    // What the second request carried, as the code builds it (chatHistory): the partial reply as the assistant's turn,
    // the error line left out.
    t.same(srv.chats[1]?.messages, [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Hello, wor' },
      { role: 'user', content: 'again' },
    ]);
    t.equal(srv.loads.length, 2, 'no further /load_model');
  },
);

t.test(
  'a chat cut off by a server that then goes away: refused attempts back off up to the cap, then it loads and chats',
  async (t) => {
    const backoff = { initialMs: 1000, maxMs: 4000 };
    const ctx = await readyOnScripted(t, backoff);
    const { srv, time, input, dash } = ctx;

    await chatAndCut(ctx, 'hi');
    await until('reconnecting after the cut', () => dash.sessions()[0]?.phase === 'reconnecting');
    await srv.goAway();

    // Each wait read off the session (retryAt − now) and off the screen, then the clock moved past it.
    const waits: number[] = [];
    const screens: string[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await until(`waiting to reconnect (${i})`, () => {
        const state = dash.sessions()[0];
        return state?.phase === 'reconnecting' && state.retryAt !== null ? state : undefined;
      });
      const wait = (s.retryAt ?? 0) - time.now();
      waits.push(wait);
      screens.push(ctx.cell());
      const due = s.retryAt ?? 0;
      time.advance(wait);
      // The attempt runs and is refused: a new wait is set, from now.
      await until(`attempt ${i + 1} refused`, () => {
        const state = dash.sessions()[0];
        return state?.phase === 'reconnecting' && state.retryAt !== null && state.retryAt > due ? state : undefined;
      });
    }
    t.same(waits, [1000, 2000, 4000, 4000, 4000], 'the waits double from the initial delay up to the cap');
    t.match(
      flat(screens.at(-1) ?? ''),
      /↻ reconnecting in 4s \(attempt \d+\)/,
      'the countdown at the cap, with the attempt',
    );
    t.match(flat(ctx.cell()), /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/, 'the refusal, in words');
    t.match(flat(ctx.cell()), /! connection lost mid-reply/, 'the cut reply is still explained in the transcript');
    t.match(ctx.cell(), /^model: Hello, wor\s*$/m, 'with its partial text');
    t.equal(srv.loads.length, 1, 'refused attempts never reached a server');

    await srv.comeBack();
    const wait = (dash.sessions()[0]?.retryAt ?? 0) - time.now();
    time.advance(wait);
    await until('ready on the server that came back', () => ctx.cell().includes('✓ ready'));
    t.equal(srv.loads.length, 2, 're-POSTed /load_model once it was back');
    input.write('again\r');
    await until('a full reply', () => {
      const last = dash.sessions()[0]?.transcript.at(-1);
      return last?.role === 'assistant' && !last.streaming && last.content === 'All good now.';
    });
    t.match(ctx.cell(), 'model: All good now.');
  },
);
