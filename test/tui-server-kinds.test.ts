// The server view over every kind of server, on the real dashboard (a headless terminal), each kind's stand-in on
// loopback and no `kind` in any session's config: each server is polled by its own routes and each row says what
// that kind tells of it (Ollama's residents with size, VRAM and expiry, its installed models on disk; the router's
// statuses; vLLM's served model with its running and waiting requests; transformers serve's disk cache as unknown,
// never resident). Unload works where the kind allows (Ollama's `keep_alive: 0`) and is refused, naming the kind,
// where it does not; D deletes on Ollama by the detected kind; a read-only dashboard changes nothing on any of them.
import t, { type Test } from 'tap';
import type { Dashboard } from '../src/tui/dashboard.js';
import type { SessionSpec } from '../src/tui/config.js';
import { openDashboard } from './helpers/dashboard.js';
import { startLlamacppStandin } from './helpers/llamacpp-standin.js';
import { startOllamaStandin } from './helpers/ollama-standin.js';
import { flat, rowLine, selectRow, statusBar } from './helpers/server-view-drive.js';
import { until } from './helpers/until.js';
import { startUpstreamStandin } from './helpers/upstream-standin.js';
import { startVllmStandin } from './helpers/vllm-standin.js';

/** The four stand-ins, each with a model a session loads and one it does not. */
async function fourKinds(t: Test) {
  const ollama = await startOllamaStandin({
    library: [
      { name: 'qwen3:0.6b', layers: [3_000_000, 1_000] },
      { name: 'gemma3:1b', layers: [2_000_000, 1_000] },
    ],
  });
  t.teardown(() => ollama.close());
  ollama.install('gemma3:1b');
  const router = await startLlamacppStandin({ models: [{ id: 'org/gguf' }, { id: 'org/spare' }] });
  t.teardown(() => router.close());
  const vllm = await startVllmStandin({ model: 'org/served', waiting: 3 });
  t.teardown(() => vllm.close());
  const upstream = await startUpstreamStandin({ models: ['org/chat', 'org/cached'] });
  t.teardown(() => upstream.close());
  const sessions: SessionSpec[] = [
    { server: ollama.url, model: 'qwen3:0.6b' },
    { server: router.url, model: 'org/gguf' },
    { server: vllm.url, model: 'org/served' },
    { server: upstream.url, model: 'org/chat' },
  ];
  return { ollama, router, vllm, upstream, sessions };
}

/** The dashboard's sessions ready, then the server view with the keys and every row of `rows` on screen. */
async function serverView(dash: Dashboard, input: NodeJS.WritableStream, rows: readonly string[]): Promise<void> {
  await until('ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'), 60_000);
  input.write('v');
  await until('the server view with the keys', () => dash.ui().serverFocused);
  await until(`the rows of ${rows.join(', ')}`, () => rows.every((m) => rowLine(dash, m) !== undefined), 30_000);
}

/** The requests that change something on a stand-in (anything but a GET). */
const changes = (requests: readonly string[]): string[] => requests.filter((r) => !r.startsWith('GET '));

t.test('each server is polled by its kind’s routes; each row says what its kind tells, never more', async (t) => {
  const { ollama, router, vllm, upstream, sessions } = await fourKinds(t);
  const { dash, input } = openDashboard(t, { sessions });
  const rows = ['qwen3:0.6b', 'gemma3:1b', 'org/gguf', 'org/spare', 'org/served', 'org/cached'];
  await serverView(dash, input, rows);

  const row = (model: string): string => rowLine(dash, model) ?? '';
  await until('Ollama’s resident with its size and countdown', () => /resident\s.*MB\s+in \d/.test(row('qwen3:0.6b')));
  t.match(row('qwen3:0.6b'), /qwen3:0\.6b\s+resident/, 'Ollama: in memory per /api/ps');
  t.match(row('gemma3:1b'), /gemma3:1b\s+on-disk\s.*2\.\d+ MB/, 'installed, not in memory: on disk, with its size');
  t.match(row('org/gguf'), /org\/gguf\s+resident/, 'the router: loaded');
  t.match(row('org/spare'), /org\/spare\s+unloaded/, 'the router: unloaded, as its /models says');
  t.match(row('org/served'), /org\/served\s+resident/, 'vLLM: serves what it lists');
  t.match(row('org/cached'), /org\/cached\s+unknown/, 'transformers serve’s disk cache: unknown, not resident');

  const screen = await until('the kinds’ own figures', () => {
    const text = flat(dash);
    return /% in VRAM/.test(text) && /vllm: \d+ running · 3 waiting/.test(text) ? text : undefined;
  });
  t.match(screen, /qwen3:0\.6b · 3\.\d+ MB · 75% in VRAM · unloads in/, 'Ollama: size, VRAM share, expiry (/api/ps)');
  t.match(screen, /polling \/api\/ps and \/api\/tags every 1\.5 s \(ollama\)/, 'Ollama polled on its own routes');
  t.match(screen, /polling \/models every 1\.5 s \(llamacpp\)/, 'the router on /models');
  t.match(
    screen,
    /its list is its disk cache: in memory or not is unknown/,
    'transformers serve: says what it cannot tell',
  );
  t.ok(ollama.requests.includes('GET /api/ps') && ollama.requests.includes('GET /api/tags'), 'Ollama asked');
  t.ok(router.requests.includes('GET /models'), 'the router asked');
  t.ok(vllm.requests.includes('GET /metrics'), 'vLLM’s metrics read');
  t.ok(upstream.requests.includes('GET /v1/models'), 'transformers serve’s list read');
  t.equal(dash.sessions()[0]?.phase, 'ready', 'the Ollama session stays ready while /api/ps lists its model');
});

t.test(
  'unload where the kind allows, “not supported by <kind>” where not; D on Ollama by its detected kind',
  async (t) => {
    const { ollama, vllm, upstream, sessions } = await fourKinds(t);
    const { dash, input } = openDashboard(t, { sessions });
    await serverView(dash, input, ['qwen3:0.6b', 'gemma3:1b', 'org/served', 'org/cached']);

    // vLLM serves the model it was started with: nothing to ask, and it says so before any dialog.
    await selectRow(dash, input, 'org/served');
    input.write('U');
    await until('refused', () => statusBar(dash).includes('unload is not supported by openai'));
    t.equal(dash.ui().prompt, null, 'no dialog');
    // Its only POST: the session's load, which is its first probe (`POST /load_model`, answered 404).
    t.same(changes(vllm.requests), ['POST /load_model'], 'nothing sent to vLLM by U');
    // transformers serve has no per-model unload either (its /reset unloads everything).
    await selectRow(dash, input, 'org/cached');
    input.write('U');
    await until('refused', () => statusBar(dash).includes('unload is not supported by transformers-serve'));
    t.same(
      changes(upstream.requests).filter((r) => r !== 'POST /load_model'),
      [],
      'nothing sent to transformers serve',
    );

    // Ollama: U through the dialog unloads (keep_alive: 0); the row and the session follow /api/ps.
    await selectRow(dash, input, 'qwen3:0.6b');
    input.write('U');
    await until('the unload dialog', () => dash.ui().prompt !== null);
    input.write('\x1b[C\r');
    await until(
      'unloaded on the server',
      () => /qwen3:0\.6b\s+on-disk/.test(rowLine(dash, 'qwen3:0.6b') ?? ''),
      15_000,
    );
    t.ok(ollama.requests.includes('POST /api/generate'), 'Ollama’s unload: an empty generate with keep_alive 0');
    await until('the session says so', () => dash.sessions()[0]?.phase === 'unloaded');

    // D on an installed model of a server whose kind no config names: Ollama's DELETE /api/delete.
    await selectRow(dash, input, 'gemma3:1b');
    input.write('D');
    await until('the delete dialog', () => dash.ui().prompt?.kind === 'delete');
    input.write('\x1b[C\r');
    await until('the notice', () => statusBar(dash).includes('deleted gemma3:1b'));
    t.ok(ollama.requests.includes('DELETE /api/delete'), 'with DELETE /api/delete');
    await until('the row leaves', () => rowLine(dash, 'gemma3:1b') === undefined, 15_000);
  },
);

t.test('a read-only dashboard refuses every action on every kind, and sends nothing', async (t) => {
  const { ollama, router, vllm, sessions } = await fourKinds(t);
  // Read-only sessions load nothing: the models are in memory before the dashboard opens.
  await fetch(`${ollama.url}/api/pull`, { method: 'POST', body: JSON.stringify({ model: 'qwen3:0.6b' }) }).then((r) =>
    r.text(),
  );
  await fetch(`${ollama.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'qwen3:0.6b' }) });
  await fetch(`${router.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'org/gguf' }) });
  await until('the router loaded it', async () => {
    const body = (await (await fetch(`${router.url}/models`)).json()) as {
      data: { id: string; status: { value: string } }[];
    };
    return body.data.some((m) => m.id === 'org/gguf' && m.status.value === 'loaded');
  });
  const before = { ollama: changes(ollama.requests).length, router: changes(router.requests).length };
  const { dash, input } = openDashboard(t, { sessions: sessions.slice(0, 3), readOnly: true });
  await serverView(dash, input, ['qwen3:0.6b', 'gemma3:1b', 'org/spare', 'org/served']);

  for (const [model, key, what] of [
    ['qwen3:0.6b', 'U', 'unload'],
    ['gemma3:1b', 'D', 'delete'],
    ['gemma3:1b', 'L', 'load'],
    ['org/spare', 'L', 'load'],
    ['org/gguf', 'U', 'unload'],
  ] as const) {
    await selectRow(dash, input, model);
    input.write(key);
    await until(`${key} on ${model} refused`, () => statusBar(dash).includes(`read-only: ${what} is off`));
    t.equal(dash.ui().prompt, null, `${key} on ${model}: no dialog`);
  }
  t.equal(changes(ollama.requests).length, before.ollama, 'nothing asked of Ollama');
  t.equal(changes(router.requests).length, before.router, 'nothing asked of the router');
  t.same(changes(vllm.requests), [], 'nothing asked of vLLM (a read-only session probes with GETs only)');
});
