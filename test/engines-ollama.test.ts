// Ollama as a server kind: the stand-in proven by the official `ollama` npm client, its kind detected from what it
// answers, and the real dashboard on a fake terminal showing its pull as a download gauge, then ready, then a reply
// streamed from /api/chat; `modeldeck load` ends ready against it.
import { Ollama } from 'ollama';
import t from 'tap';
import { captureOutput } from './helpers/captured.js';
import { runLoadCommand } from '../src/cli/load.js';
import { detectServerKind } from '../src/client/server-kind.js';
import type { Dashboard } from '../src/tui/dashboard.js';
import { cellText, openDashboard, ROWS } from './helpers/dashboard.js';
import { startOllamaStandin } from './helpers/ollama-standin.js';
import { until } from './helpers/until.js';

const statusBar = (dash: Dashboard): string => dash.screenText().split('\n')[ROWS - 1] ?? '';

const LIBRARY = [
  { name: 'qwen3:0.6b', layers: [400_000, 120_000, 2_000] },
  { name: 'smollm2', layers: [300_000, 1_000] },
];

t.test('the official ollama client drives the stand-in: pull, load, ps, chat, unload, delete', async (t) => {
  const standin = await startOllamaStandin({ library: LIBRARY });
  t.teardown(() => standin.close());
  const ollama = new Ollama({ host: standin.url });

  t.match(await ollama.version(), { version: /^\d+\.\d+/ }, 'version');
  const progress = [];
  for await (const part of await ollama.pull({ model: 'qwen3:0.6b', stream: true })) progress.push(part);
  t.equal(progress[0]?.status, 'pulling manifest');
  t.equal(progress.at(-1)?.status, 'success');
  const layers = progress.filter((p) => p.digest);
  t.ok(layers.length >= 3 && layers.every((p) => p.digest.startsWith('sha256:') && p.total > 0), 'layer lines');
  t.ok(
    layers.some((p) => p.completed === p.total),
    'each layer completes',
  );
  t.ok(
    progress.some((p) => p.status === 'verifying sha256 digest'),
    'verifying',
  );
  t.same(
    (await ollama.list()).models.map((m) => m.name),
    ['qwen3:0.6b'],
    'installed',
  );

  const loaded = await ollama.generate({ model: 'qwen3:0.6b', prompt: '', stream: false });
  t.equal(loaded.done_reason, 'load', 'an empty generate loads');
  const ps = await ollama.ps();
  t.equal(ps.models.length, 1);
  const resident = ps.models[0];
  t.equal(resident?.name, 'qwen3:0.6b');
  t.equal(resident?.size, 522_000, 'size: the layers');
  t.ok(resident && resident.size_vram > 0 && resident.size_vram <= resident.size, 'size_vram: the GPU share');
  t.ok(resident && new Date(resident.expires_at).getTime() > Date.now(), 'expires_at in the future');

  let reply = '';
  let last;
  for await (const part of await ollama.chat({
    model: 'qwen3:0.6b',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  })) {
    reply += part.message.content;
    last = part;
  }
  t.equal(reply, 'Hello from Ollama');
  t.equal(last?.done, true);
  t.ok(last && last.eval_count === 3 && last.prompt_eval_count > 0 && last.total_duration > 0, 'counts, durations');

  const unloaded = await ollama.generate({ model: 'qwen3:0.6b', prompt: '', keep_alive: 0, stream: false });
  t.equal(unloaded.done_reason, 'unload', 'keep_alive 0 unloads');
  t.same((await ollama.ps()).models, [], 'nothing resident');
  t.same(await ollama.delete({ model: 'qwen3:0.6b' }), { status: 'success' });
  t.same((await ollama.list()).models, [], 'deleted');
  await t.rejects(ollama.delete({ model: 'qwen3:0.6b' }), /not found/, 'deleting twice: not found');
  await t.rejects(
    (async () => {
      for await (const part of await ollama.pull({ model: 'nope', stream: true })) void part;
    })(),
    /file does not exist/,
    'a pull of an unknown model streams an error the client raises',
  );
});

t.test('detection: GET /api/version names Ollama', async (t) => {
  const standin = await startOllamaStandin({ library: LIBRARY });
  t.teardown(() => standin.close());
  const found = await detectServerKind({ server: standin.url });
  t.match(found, { ok: true, kind: 'ollama', because: /\/api\/version/ });
  t.same(standin.requests, ['GET /load_model', 'GET /api/version'], 'two read-only probes, in the documented order');
});

t.test('the dashboard: the pull as a download gauge, then ready; a streamed reply from /api/chat', async (t) => {
  const standin = await startOllamaStandin({ library: LIBRARY, lineMs: 120, loadMs: 200 });
  t.teardown(() => standin.close());
  const { dash, input } = openDashboard(t, {
    sessions: [{ server: standin.url, model: 'qwen3:0.6b', kind: 'ollama' }],
  });
  const gauge = await until('a download gauge', () => {
    const s = dash.sessions()[0];
    return s?.stage === 'download' && s.download !== null && s.download.current > 0 ? s.download : undefined;
  });
  t.equal(gauge.total, 522_000, 'the layers summed under one total');
  t.match(cellText(dash, 0, 1), /download/, 'the cell shows the download');
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  t.ok(dash.sessions()[0]?.expiresAt, 'the unload countdown from /api/ps expires_at');
  const log = dash.logEntries().map((e) => e.raw);
  t.ok(
    log.some((raw) => raw.includes('server kind: ollama')),
    'the log says whose routes are used',
  );
  t.ok(
    log.some((raw) => raw.startsWith('{"status":"pulling') && raw.includes('"digest"')),
    'pull lines raw in the log',
  );
  const pulled = dash.journalEntries().filter((e) => e.stream === 's1 /api/pull' && e.kind === 'fields');
  t.ok(pulled.length >= 10, 'the wire view: each NDJSON line of the pull is a frame of its own');
  t.ok(
    pulled.every((e) => e.text.startsWith('{') && e.text.endsWith('}')),
    'each exactly one line',
  );
  input.write('\rhello\r');
  await until('the reply', () => cellText(dash, 0, 1).includes('Hello from Ollama'));
  const done = await until('the reply ends', () => {
    const entry = dash.sessions()[0]?.transcript.at(-1);
    return entry?.role === 'assistant' && !entry.streaming ? entry : undefined;
  });
  t.same(done.metrics?.usage, { prompt: 7, completion: 3 }, 'the done line’s counts are the usage');
  t.ok(standin.requests.includes('POST /api/chat'), 'chat went to /api/chat');

  // U, then Unload: an empty generate with keep_alive 0, Ollama's unload.
  input.write('\x1b');
  input.write('U');
  await until('the unload dialog', () => dash.ui().prompt?.kind === 'unload');
  input.write('\x1b[C');
  await until('Unload chosen', () => dash.ui().prompt?.choice === 1);
  input.write('\r');
  await until('the notice', () => statusBar(dash).includes('s1: unloaded qwen3:0.6b'));
  t.same(await new Ollama({ host: standin.url }).ps(), { models: [] }, 'Ollama has nothing in memory');
  await until('unloaded on screen', () => cellText(dash, 0, 1).includes('unloaded'));
});

t.test('detected without --kind on a tagless name; already installed: no pull, a load, ready', async (t) => {
  const standin = await startOllamaStandin({ library: LIBRARY });
  t.teardown(() => standin.close());
  standin.install('smollm2');
  const { dash } = openDashboard(t, { sessions: [{ server: standin.url, model: 'smollm2' }] });
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  t.notOk(standin.requests.includes('POST /api/pull'), 'an installed model is not pulled again');
  t.ok(standin.requests.includes('POST /api/generate'), 'loaded by an empty generate');
});

t.test('the server view lists what /api/ps says: size, the VRAM share, when Ollama unloads it', async (t) => {
  const standin = await startOllamaStandin({ library: LIBRARY });
  t.teardown(() => standin.close());
  standin.install('qwen3:0.6b');
  const { dash, input } = openDashboard(t, {
    sessions: [{ server: standin.url, model: 'qwen3:0.6b', kind: 'ollama' }],
  });
  await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));
  input.write('v');
  const line = await until('the resident in the server view', () =>
    dash
      .screenText()
      .split('\n')
      .find((l) => l.includes('qwen3:0.6b ·')),
  );
  t.match(line, /qwen3:0\.6b · 522 kB · 75% in VRAM · unloads in \d+m/, 'size, VRAM share, expiry');
  t.ok(standin.requests.includes('GET /api/ps'), 'asked /api/ps');
});

t.test('modeldeck load --server URL MODEL ends ready against Ollama', async (t) => {
  const standin = await startOllamaStandin({ library: LIBRARY });
  t.teardown(() => standin.close());
  const io = captureOutput();
  const code = await runLoadCommand(['--server', standin.url, '--kind', 'ollama', 'qwen3:0.6b'], io);
  t.equal(code, 0, io.err);
  t.match(io.out, /server kind: ollama \(as configured\)/);
  t.match(io.out, /download .*\/ 522 kB \(100%\)|download .*100%/);
  t.match(io.out, /ready: qwen3:0\.6b/);
  const again = await runLoadCommand(['--server', standin.url, 'nope:1b', '--kind', 'ollama'], io);
  t.equal(again, 1, 'an unknown model fails');
  t.match(io.err, /file does not exist/);
});
