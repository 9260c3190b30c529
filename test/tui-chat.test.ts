// Chat an operator can measure and steer, on the real dashboard (headless screen): figures under each reply, and
// Ctrl-X stopping a reply that streams.
import t from 'tap';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, openDashboard, standinChatDashboard, startKillableServer, untilReady } from './helpers/dashboard.js';
import { until } from './helpers/until.js';

/** The figures line under the newest reply, as the screen shows it. */
const figuresLine = (text: string): string | undefined =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('ttft '))
    .at(-1);

t.test('a reply from a real model shows time to first token, tokens/s and the server’s token counts', async (t) => {
  const models = await demoModelsDir(['modeldeck/tiny-chat']);
  const mirror = await startTestMirror(models);
  t.teardown(() => mirror.close());
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { dash, input } = openDashboard(t, {
    sessions: [{ server: srv.url, model: 'modeldeck/tiny-chat' }],
    maxTokens: 12,
  });
  await untilReady(dash, 60_000);
  input.write('\rhello\r');
  const reply = await until('the reply ends', () => {
    const last = dash.sessions()[0]?.transcript.at(-1);
    return last?.role === 'assistant' && !last.streaming ? last : undefined;
  });
  const usage = reply.metrics?.usage;
  t.ok(usage, 'the server’s usage chunk was read');
  t.ok(usage && usage.completion >= 1 && usage.completion <= 12, 'max_tokens bounds the completion tokens');
  t.ok(usage && usage.prompt > 0, 'the prompt was counted');
  const chatFrame = dash
    .logEntries()
    .find((e) => e.kind === 'data' && e.raw.includes('"usage"') && e.raw.includes('completion_tokens'));
  t.ok(chatFrame, 'the usage came in a chunk of the stream');
  const sent = (chatFrame?.raw ?? '').match(/"completion_tokens":\s*(\d+)/)?.[1];
  t.equal(Number(sent), usage?.completion, 'the counts are the server’s');
  const line = await until('the figures on screen', () => figuresLine(cellText(dash, 0, 1)));
  t.match(line, /^ttft \d+(ms|\.\ds) · (\d+\.\d tok\/s · )?\d+ in · \d+ out$/, 'compact: ttft, rate, in, out');
  // The rate counts the tokens after the first over the time from the first to the end, and only over 100 ms and 4
  // tokens or more: a reply that came in one chunk (the tiny model is fast: tokens under 1 ms apart share one) has no
  // time to measure it over.
  const m = reply.metrics;
  const span = m && m.firstAt !== null && m.endedAt !== null ? m.endedAt - m.firstAt : 0;
  const out = usage?.completion ?? 0;
  if (span >= 100 && out - 1 >= 4) t.match(line, ` · ${(((out - 1) * 1000) / span).toFixed(1)} tok/s · `, 'the rate');
  else t.notMatch(line, 'tok/s', `no rate over ${span} ms and ${out} tokens`);
  t.ok(line.endsWith(` ${usage?.prompt} in · ${usage?.completion} out`), 'the counts on screen are the usage');
  t.notMatch(line, '≈', 'exact counts carry no ≈');
});

t.test('a server that sends no usage (transformers serve) gets counted pieces, marked ≈', async (t) => {
  const { dash, input } = await standinChatDashboard(t);
  input.write('\rhi\r');
  const line = await until('the figures on screen', () => figuresLine(cellText(dash, 0, 1)));
  // The stand-in streams 'Hello', ' there', '!': three pieces.
  t.match(line, / · ≈3 out$/, 'three pieces counted, marked ≈');
  t.notMatch(line, ' in ', 'no prompt count is invented');
  t.equal(dash.sessions()[0]?.transcript.at(-1)?.metrics?.usage, null, 'no usage was read');
});

t.test('Ctrl-X stops a streaming reply, keeps it marked (stopped), and the next message works', async (t) => {
  const gated = gatedLoader('the second reply arrives whole');
  const server = await startServer({ loader: gated.loader, heartbeatMs: 0 });
  t.teardown(() => server.close());
  const { dash, input } = openDashboard(t, { sessions: [{ server: server.url, model: 'org/m' }] });
  (await gated.loadStarted('org/m@main')).release();
  await untilReady(dash);

  input.write('\rfirst\r');
  await gated.generationStarted();
  await until('replying', () => dash.sessions()[0]?.chatBusy === true);
  input.write('draft');
  input.write('\x18');
  await until('the reply stopped', () => dash.sessions()[0]?.chatBusy === false);
  await until('the server stopped generating', () => gated.stoppedGenerations === 1);
  const stopped = dash.sessions()[0]?.transcript.at(-1);
  t.equal(stopped?.role, 'assistant');
  t.equal(stopped?.stopped, true, 'the reply is marked stopped');
  t.ok(dash.ui().composing, 'still typing');
  t.equal(dash.ui().inputs['s1'], 'draft', 'Ctrl-X typed nothing into the message');
  await until('(stopped) on screen', () => cellText(dash, 0, 1).includes('(stopped)'));

  input.write(' two\r');
  const second = await gated.generationStarted();
  t.same(
    typeof second.messages === 'string' ? second.messages : second.messages.map((m) => m.content),
    ['first', 'draft two'],
    'the next message goes out (the empty stopped reply is not sent back)',
  );
  second.release();
  await until('the second reply', () => {
    const last = dash.sessions()[0]?.transcript.at(-1);
    return last?.role === 'assistant' && !last.streaming && last.content === 'the second reply arrives whole';
  });
  t.notOk(dash.sessions()[0]?.transcript.at(-1)?.stopped, 'the second reply is not marked');

  input.write('\x1b');
  await until('out of the typing mode', () => !dash.ui().composing);
  input.write('\x18');
  await until('nothing to stop', () => dash.screenText().includes('no reply is streaming to stop'));
});

t.test('a session’s chat settings reach the server: system prompt first, temperature, max tokens, seed', async (t) => {
  const gated = gatedLoader('ok');
  const server = await startServer({ loader: gated.loader, heartbeatMs: 0 });
  t.teardown(() => server.close());
  const chat = { system: 'Answer in one word.', temperature: 0.3, maxTokens: 5, seed: 42 };
  const { dash, input } = openDashboard(t, { sessions: [{ server: server.url, model: 'org/m', chat }] });
  (await gated.loadStarted('org/m@main')).release();
  await untilReady(dash);
  input.write('\rhello\r');
  const gen = await gated.generationStarted();
  t.same(gen.messages, [
    { role: 'system', content: 'Answer in one word.' },
    { role: 'user', content: 'hello' },
  ]);
  t.match(gen.options, { maxTokens: 5, temperature: 0.3, seed: 42 });
  gen.release();
  await until('the reply', () => dash.sessions()[0]?.transcript.at(-1)?.content === 'ok');
  t.notOk(
    dash.sessions()[0]?.transcript.some((e) => e.content === 'Answer in one word.'),
    'the system prompt is not shown as a turn',
  );
});

t.test(
  'on a real model: a seed makes replies reproducible, max tokens bounds them, a system prompt counts',
  async (t) => {
    const models = await demoModelsDir(['modeldeck/tiny-chat']);
    const mirror = await startTestMirror(models);
    t.teardown(() => mirror.close());
    const srv = await startKillableServer(mirror.url);
    t.teardown(() => srv.close());
    const sampling = { temperature: 1, maxTokens: 8, seed: 7 };
    const model = 'modeldeck/tiny-chat';
    const { dash, input } = openDashboard(t, {
      sessions: [
        { server: srv.url, model, chat: sampling },
        { server: srv.url, model, chat: sampling },
        { server: srv.url, model, chat: { ...sampling, system: 'You are a terse assistant who answers briefly.' } },
      ],
    });
    await until('ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'), 60_000);
    const replies = [];
    for (let i = 0; i < 3; i++) {
      if (i > 0) {
        input.write('\x1b');
        await until('out of the typing mode', () => !dash.ui().composing);
        input.write('\t');
      }
      await until(`focus ${i}`, () => dash.ui().focus === i && !dash.ui().composing);
      input.write('\rtell me a story\r');
      replies.push(
        await until(`reply ${i}`, () => {
          const last = dash.sessions()[i]?.transcript.at(-1);
          return last?.role === 'assistant' && !last.streaming ? last : undefined;
        }),
      );
    }
    const [a, b, c] = replies;
    t.ok(a && a.content !== '', 'a reply came');
    t.equal(b?.content, a?.content, 'the same seed gives the same reply');
    t.ok((a?.metrics?.usage?.completion ?? 99) <= 8, 'max tokens bounds the completion');
    t.ok(
      (c?.metrics?.usage?.prompt ?? 0) > (a?.metrics?.usage?.prompt ?? Infinity),
      'the system prompt adds to the prompt tokens',
    );
  },
);

t.test('o sets the focused session’s chat settings in the dashboard; the next request uses them', async (t) => {
  const gated = gatedLoader('ok');
  const server = await startServer({ loader: gated.loader, heartbeatMs: 0 });
  t.teardown(() => server.close());
  const { dash, input } = openDashboard(t, { sessions: [{ server: server.url, model: 'org/m', chat: { seed: 1 } }] });
  (await gated.loadStarted('org/m@main')).release();
  await untilReady(dash);
  input.write('\x0f');
  await until('the prompt', () => dash.ui().prompt?.kind === 'options');
  t.equal(dash.ui().prompt?.text, 'seed=1', 'offers the settings in force');
  input.write(' temperature=9\r');
  await until('refused', () => dash.ui().prompt?.error === '"temperature" must be a number from 0 to 2');
  t.match(dash.screenText(), 'must be a number from 0 to 2', 'the reason is on screen');
  for (let i = 0; i < 'temperature=9'.length; i++) input.write('\x7f');
  input.write('temperature=0.5 maxTokens=3 system=Be terse.\r');
  await until('set', () => dash.ui().prompt === null);
  await until('the notice', () =>
    dash.screenText().includes('s1: chat settings temperature=0.5 maxTokens=3 seed=1 system=Be terse.'),
  );
  input.write('\rhi\r');
  const gen = await gated.generationStarted();
  t.same(gen.messages, [
    { role: 'system', content: 'Be terse.' },
    { role: 'user', content: 'hi' },
  ]);
  t.match(gen.options, { maxTokens: 3, temperature: 0.5, seed: 1 });
  gen.release();
});

t.test(
  'PgUp scrolls the focused transcript back with a "↓ N newer" mark; PgDn to the bottom follows again',
  async (t) => {
    const { dash, input } = await standinChatDashboard(t);
    input.write('\r');
    const sent = 16;
    for (let n = 1; n <= sent; n++) {
      input.write(`message number ${'x'.repeat(n)}\r`);
      await until(`reply ${n}`, () => {
        const turns = dash.sessions()[0]?.transcript ?? [];
        return turns.filter((e) => e.role === 'assistant' && !e.streaming).length === n;
      });
    }
    const newest = `you: message number ${'x'.repeat(sent)}`;
    const oldestShown = (): boolean =>
      cellText(dash, 0, 1)
        .split('\n')
        .some((l) => l.trim() === 'you: message number x');
    await until('the newest on screen', () => cellText(dash, 0, 1).includes(newest));
    t.notOk(oldestShown(), 'the oldest scrolled out of the pane');
    input.write('\x1b[5~');
    await until('scrolled back', () => cellText(dash, 0, 1).includes('↓ 5 newer'));
    t.notOk(cellText(dash, 0, 1).includes(newest), 'the newest is below the view');
    t.ok(dash.ui().composing, 'still typing');
    for (let i = 0; i < 20; i++) input.write('\x1b[5~');
    await until('the oldest', () => oldestShown());
    t.match(cellText(dash, 0, 1), 'newer · PgDn', 'the mark stays while scrolled');
    for (let i = 0; i < 30; i++) input.write('\x1b[6~');
    await until(
      'following again',
      () => cellText(dash, 0, 1).includes(newest) && !cellText(dash, 0, 1).includes('newer'),
    );
    t.equal(dash.ui().scrolls['s1'], 0);
  },
);
