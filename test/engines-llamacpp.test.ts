// llama.cpp's router as a server kind: detected by GET /props, a load followed on /models/sse (download progress
// summed into one gauge, then its stages by name) on the real dashboard, a streamed reply, U through /models/unload,
// a failed child process as an error, and `modeldeck load` ending ready.
import t from 'tap';
import { captureOutput } from './helpers/captured.js';
import { runLoadCommand } from '../src/cli/load.js';
import { detectServerKind } from '../src/client/server-kind.js';
import type { Dashboard } from '../src/tui/dashboard.js';
import { cellText, openDashboard, ROWS } from './helpers/dashboard.js';
import { startLlamacppStandin } from './helpers/llamacpp-standin.js';
import { until } from './helpers/until.js';

const GGUF = 'ggml-org/gemma-3-1b-it-GGUF:Q4_K_M';
const statusBar = (dash: Dashboard): string => dash.screenText().split('\n')[ROWS - 1] ?? '';

async function listed(url: string, id: string): Promise<unknown> {
  const body = (await (await fetch(`${url}/models`)).json()) as { data: { id: string; status: { value: string } }[] };
  return body.data.find((m) => m.id === id)?.status.value;
}

t.test('detection: GET /props with a role names llama.cpp', async (t) => {
  const router = await startLlamacppStandin({ models: [{ id: 'org/plain' }] });
  t.teardown(() => router.close());
  t.match(await detectServerKind({ server: router.url }), { ok: true, kind: 'llamacpp', because: /role router/ });
});

t.test('the dashboard: download gauge, staged load, ready; a reply; U unloads', async (t) => {
  const router = await startLlamacppStandin({
    models: [{ id: GGUF, download: [600_000, 200_000], vision: true }],
    frameMs: 150,
  });
  t.teardown(() => router.close());
  const { dash, input } = openDashboard(t, { sessions: [{ server: router.url, model: GGUF, kind: 'llamacpp' }] });
  const gauge = await until('a download gauge', () => {
    const s = dash.sessions()[0];
    return s?.stage === 'download' && s.download !== null && s.download.current > 0 ? s.download : undefined;
  });
  t.equal(gauge.total, 800_000, 'every file of the download under one total');
  await until('the second stage', () => cellText(dash, 0, 1).includes('loading: mmproj_model'));
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  const stages = dash.sessions()[0]?.stages.map((s) => s.name);
  t.same(stages, ['download', 'load', 'model', 'mmproj_model'], 'the stages in order, by their names');
  t.ok(router.requests.indexOf('GET /models/sse') < router.requests.indexOf('POST /models'), 'listening first');
  t.ok(
    router.requests.indexOf('POST /models') < router.requests.indexOf('POST /models/load'),
    'a model the router does not list is downloaded (POST /models), then loaded once download_finished came',
  );
  t.ok(
    dash.logEntries().some((e) => e.raw.includes('"event":"status_change"') && e.raw.includes('"loaded"')),
    'the frames raw in the log',
  );
  input.write('\rhello\r');
  await until('the reply', () => cellText(dash, 0, 1).includes('Hello from llama.cpp'));
  await until('the reply ends', () => dash.sessions()[0]?.chatBusy === false);
  input.write('\x1b');
  input.write('U');
  await until('the unload dialog', () => dash.ui().prompt?.kind === 'unload');
  input.write('\x1b[C');
  await until('Unload chosen', () => dash.ui().prompt?.choice === 1);
  input.write('\r');
  await until('the notice', () => statusBar(dash).includes(`s1: unloaded ${GGUF}`));
  t.equal(await listed(router.url, GGUF), 'unloaded', 'the router unloaded it');
});

t.test('a child process that exits is an error naming its exit code', async (t) => {
  const router = await startLlamacppStandin({ models: [{ id: 'org/broken', exitCode: 3 }] });
  t.teardown(() => router.close());
  const { dash } = openDashboard(t, { sessions: [{ server: router.url, model: 'org/broken' }] });
  await until('the error', () => cellText(dash, 0, 1).includes('exited with code 3'));
  t.equal(dash.sessions()[0]?.phase, 'error');
});

t.test('modeldeck load --server URL MODEL ends ready against the router, and again as cached', async (t) => {
  const router = await startLlamacppStandin({ models: [{ id: 'org/plain' }] });
  t.teardown(() => router.close());
  const io = captureOutput();
  t.equal(await runLoadCommand(['--server', router.url, 'org/plain'], io), 0, io.err);
  t.match(io.out, /server kind: llamacpp \(detected/);
  t.match(io.out, /ready: org\/plain \(in /);
  io.out = '';
  t.equal(await runLoadCommand(['--server', router.url, 'org/plain'], io), 0, io.err);
  t.match(io.out, /ready: org\/plain \(already in server memory\)/);
});
