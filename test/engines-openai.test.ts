// vLLM and other OpenAI-compatible servers as a server kind: detected from what they answer, their start-up shown as
// `starting` then ready on the real dashboard and in `modeldeck load`, a streamed reply, an unload that says it is not
// supported, `modeldeck load` ending ready, and a refused connection said as such (never as `starting`).
import t from 'tap';
import { captureOutput } from './helpers/captured.js';
import { runLoadCommand } from '../src/cli/load.js';
import { detectServerKind } from '../src/client/server-kind.js';
import type { Dashboard } from '../src/tui/dashboard.js';
import { cellText, openDashboard, ROWS } from './helpers/dashboard.js';
import { closedPort } from './helpers/closed-port.js';
import { until } from './helpers/until.js';
import { startVllmStandin } from './helpers/vllm-standin.js';

const MODEL = 'Qwen/Qwen3-0.6B';
const statusBar = (dash: Dashboard): string => dash.screenText().split('\n')[ROWS - 1] ?? '';

t.test('detection: an OpenAI-compatible server, ready or starting', async (t) => {
  const up = await startVllmStandin({ model: MODEL });
  t.teardown(() => up.close());
  t.match(await detectServerKind({ server: up.url }), { ok: true, kind: 'openai', because: /\/v1\/models/ });
  t.same(up.requests, ['GET /load_model', 'GET /api/version', 'GET /props', 'GET /v1/models'], 'in order');
  const starting = await startVllmStandin({ model: MODEL, starting: true });
  t.teardown(() => starting.close());
  t.match(await detectServerKind({ server: starting.url }), { ok: true, kind: 'openai', because: /503/ });
});

t.test('the dashboard: starting while /health answers 503, then ready; a reply; U is not supported', async (t) => {
  const up = await startVllmStandin({ model: MODEL, starting: true });
  t.teardown(() => up.close());
  const { dash, input } = openDashboard(t, { sessions: [{ server: up.url, model: MODEL }] });
  await until('starting', () => cellText(dash, 0, 1).includes('loading: starting'));
  t.equal(dash.sessions()[0]?.stage, 'starting');
  up.becomeReady();
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  t.ok(
    dash.logEntries().some((e) => e.raw.includes('server kind: openai (detected')),
    'the log names the kind',
  );
  input.write('\rhello\r');
  await until('the reply', () => cellText(dash, 0, 1).includes('Hello from vLLM'));
  await until('the reply ends', () => dash.sessions()[0]?.chatBusy === false);
  input.write('\x1b');
  input.write('U');
  await until('the unload dialog', () => dash.ui().prompt?.kind === 'unload');
  input.write('\x1b[C');
  await until('Unload chosen', () => dash.ui().prompt?.choice === 1);
  input.write('\r');
  await until('the notice', () => statusBar(dash).includes('unload is not supported by openai'));
  t.notOk(
    up.requests.some((r) => r.includes('unload')),
    'nothing was sent',
  );
  t.equal(dash.sessions()[0]?.phase, 'ready', 'the session is still ready');
});

t.test('the server view reads vLLM’s /metrics: running, waiting, KV-cache use, TTFT', async (t) => {
  const up = await startVllmStandin({ model: MODEL, waiting: 3 });
  t.teardown(() => up.close());
  const { dash, input } = openDashboard(t, { sessions: [{ server: up.url, model: MODEL, kind: 'openai' }] });
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  input.write('v');
  const line = await until('the metrics line', () =>
    dash
      .screenText()
      .split('\n')
      .find((l) => l.includes('vllm:')),
  );
  t.match(line, /vllm: 0 running · 3 waiting · KV cache 25% · TTFT mean 42 ms/);
});

t.test('modeldeck load --server URL MODEL ends ready against an OpenAI-compatible server', async (t) => {
  const up = await startVllmStandin({ model: MODEL });
  t.teardown(() => up.close());
  const io = captureOutput();
  t.equal(await runLoadCommand(['--server', up.url, MODEL], io), 0, io.err);
  t.match(io.out, /server kind: openai \(detected/);
  t.match(io.out, /ready: Qwen\/Qwen3-0\.6B \(already in server memory\)/);
  const other = await runLoadCommand(['--server', up.url, 'org/other'], io);
  t.equal(other, 1, 'a model the server does not serve fails');
  t.match(io.err, /org\/other is not served here \(it serves Qwen\/Qwen3-0\.6B\)/);
});

t.test('modeldeck load waits through a start-up: starting while /health answers 503, then ready', async (t) => {
  const up = await startVllmStandin({ model: MODEL, starting: true });
  t.teardown(() => up.close());
  const io = captureOutput();
  const status = runLoadCommand(['--server', up.url, MODEL], io);
  await until('starting said', () => /starting/.test(io.out + io.err), 30_000);
  t.notMatch(io.out, /ready/, 'not ready while /health answers 503');
  up.becomeReady();
  t.equal(await status, 0, io.err);
  t.match(io.out, /ready: Qwen\/Qwen3-0\.6B/, 'then ready');
});

t.test(
  'a refused connection is not “starting”: the dashboard says it cannot reach the server, and retries',
  async (t) => {
    const port = await closedPort();
    const { dash } = openDashboard(t, {
      sessions: [{ server: `http://127.0.0.1:${port}`, model: MODEL, kind: 'openai' }],
    });
    const cell = await until('the failure', () => {
      const text = cellText(dash, 0, 1).replace(/\s+/g, ' ');
      return /cannot reach/.test(text) ? text : undefined;
    });
    t.notMatch(cell, /starting/, 'nothing claims the server is starting');
    t.match(cell, /reconnecting/, 'and it says it tries again');
  },
);
