// Chat an operator can measure and steer, on the real dashboard (headless screen): figures under each reply, and
// Ctrl-X stopping a reply that streams.
import t from 'tap';
import { startServer } from '../src/server/start.js';
import { startDashboard } from '../src/tui/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, startKillableServer, terminal } from './helpers/dashboard.js';
import { until } from './helpers/until.js';
import { startUpstreamStandin } from './helpers/upstream-standin.js';

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
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [{ server: srv.url, model: 'modeldeck/tiny-chat' }],
    input,
    output,
    maxTokens: 12,
  });
  t.teardown(() => dash.shutdown());
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'), 60_000);
  input.write('ihello\r');
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
  t.match(line, /^ttft \d+(ms|\.\ds) · \d+\.\d tok\/s · \d+ in · \d+ out$/, 'compact: ttft, rate, in, out');
  t.ok(line.endsWith(` ${usage?.prompt} in · ${usage?.completion} out`), 'the counts on screen are the usage');
  t.notMatch(line, '≈', 'exact counts carry no ≈');
});

t.test('a server that sends no usage (transformers serve) gets counted pieces, marked ≈', async (t) => {
  const upstream = await startUpstreamStandin({ models: ['org/chat'] });
  t.teardown(() => upstream.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: upstream.url, model: 'org/chat' }], input, output });
  t.teardown(() => dash.shutdown());
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  input.write('ihi\r');
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
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: server.url, model: 'org/m' }], input, output });
  t.teardown(() => dash.shutdown());
  (await gated.loadStarted('org/m@main')).release();
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));

  input.write('ifirst\r');
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
