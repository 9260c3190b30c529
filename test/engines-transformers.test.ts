// Today's `transformers serve` (5.x) as a server kind: settled by its own load, its chat's reasoning apart from the
// answer, a tool call shown as such, usage on the final chunk without [DONE], the invalid-JSON error chunk shown as
// its raw text, and an unhealthy /health in the server view; all on the real dashboard.
import t, { type Test } from 'tap';
import { cellText, openDashboard } from './helpers/dashboard.js';
import { startUpstreamStandin, type UpstreamStandinOptions } from './helpers/upstream-standin.js';
import { until } from './helpers/until.js';

const MODEL = 'org/chat';

async function readyDashboard(t: Test, today: NonNullable<UpstreamStandinOptions['today']>) {
  const upstream = await startUpstreamStandin({ models: [MODEL], today });
  t.teardown(() => upstream.close());
  const opened = openDashboard(t, { sessions: [{ server: upstream.url, model: MODEL }] });
  await until('ready', () => cellText(opened.dash, 0, 1).includes('✓ ready'));
  return { ...opened, upstream };
}

t.test('reasoning apart from the answer, a tool call as such, usage from the final chunk', async (t) => {
  const { dash, input, upstream } = await readyDashboard(t, {
    reasoning: ['The user', ' greets me.'],
    toolCall: { name: 'get_time', arguments: '{"tz": "UTC"}' },
  });
  t.ok(
    dash.logEntries().some((e) => e.raw.includes('server kind: transformers-serve')),
    'the kind settled by its own load',
  );
  t.notOk(upstream.requests.includes('GET /load_model'), 'no probe: its POST /load_model said enough');
  input.write('\rhello\r');
  const reply = await until('the reply ends', () => {
    const last = dash.sessions()[0]?.transcript.at(-1);
    return last?.role === 'assistant' && !last.streaming ? last : undefined;
  });
  t.equal(reply.content, 'Hello there!', 'the answer alone');
  t.equal(reply.reasoning, 'The user greets me.', 'the reasoning apart');
  t.equal(reply.toolCalls, 'get_time {"tz": "UTC"}', 'the tool call with its arguments');
  t.same(reply.metrics?.usage, { prompt: 4, completion: 3 }, 'usage from the final chunk, no [DONE] needed');
  const text = cellText(dash, 0, 1);
  t.match(text, 'thinking: The user greets me.');
  t.match(text, 'tool call: get_time {"tz": "UTC"}');
  t.ok(text.indexOf('thinking:') < text.indexOf('model: Hello there!'), 'the reasoning before the answer');

  // Reasoning can run to pages: t folds it to a line that says how much is hidden, and shows it again.
  input.write('\x1b');
  input.write('t');
  await until('folded', () => cellText(dash, 0, 1).includes('thinking: 19 characters folded (t shows)'));
  const folded = cellText(dash, 0, 1);
  t.notMatch(folded, 'The user greets me.', 'the reasoning itself is hidden');
  t.match(folded, 'model: Hello there!', 'the answer stays');
  t.match(folded, 'tool call: get_time', 'the tool call stays');
  input.write('t');
  await until('shown again', () => cellText(dash, 0, 1).includes('thinking: The user greets me.'));
});

t.test('the mid-stream error that is not JSON is shown as its raw text', async (t) => {
  const { dash, input } = await readyDashboard(t, { chatError: 'CUDA said "out of memory"' });
  input.write('\rhello\r');
  await until('the error', () => dash.sessions()[0]?.transcript.some((e) => e.role === 'error'));
  const error = dash.sessions()[0]?.transcript.find((e) => e.role === 'error');
  t.match(error?.content, '{"error": "CUDA said "out of memory""}', 'the text as the server sent it');
});

t.test('an unhealthy /health shows in the server view with its reason', async (t) => {
  const { dash, input } = await readyDashboard(t, { unhealthy: true });
  input.write('v');
  await until('the health line', () => dash.screenText().includes('health: unhealthy (cb_worker_dead)'));
  t.pass('shown');
});
