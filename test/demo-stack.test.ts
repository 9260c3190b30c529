// The dashboard's default with no --server: the embedded demo stack (generated models, a throttled mirror, a
// modeldeck server) in-process on loopback, and the dashboard command that opens a session on each demo model.
import { mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import blessed from 'blessed';
import t from 'tap';
import { runDashboardCommand } from '../src/cli/dashboard.js';
import { DEMO_MODELS } from '../src/demo/demo-models.js';
import { startDemoStack } from '../src/demo/stack.js';
import { gridLayout, screenLayout } from '../src/tui/screen-layout.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel, stagesOf } from './helpers/sse-client.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';
const CACHE_PREFIX = 'modeldeck-dashboard-cache-';

/**
 * Sets environment variables until the returned function is called. The embedded stack makes its temporary cache
 * with `os.tmpdir()`, which reads `TMPDIR` at each call: a private `TMPDIR` tells which directory is this run's, even
 * when other test runs on the machine make theirs at the same time.
 */
function setEnv(values: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  Object.assign(process.env, values);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** True when nothing accepts connections on 127.0.0.1:`port` and it can be listened on again. */
async function portFree(port: number): Promise<boolean> {
  const refused = await fetch(`http://127.0.0.1:${port}/health`).then(
    () => false,
    (error: Error & { cause?: { code?: string } }) => error.cause?.code === 'ECONNREFUSED',
  );
  const listens = await new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  return refused && listens;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

t.test('the embedded stack: loopback, a fresh load with every stage, and nothing left after close', async (t) => {
  const demoDir = await demoModelsDir([MODEL]);
  const tmp = await mkdtemp(join(tmpdir(), 'modeldeck-tui-embedded-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const progress: string[] = [];
  const restoreEnv = setEnv({ TMPDIR: tmp });
  let stack: Awaited<ReturnType<typeof startDemoStack>>;
  try {
    // 2 MB/s: the ~1.1 MB model takes a moment, so the download stage reports progress.
    stack = await startDemoStack({
      demoDir,
      throttle: 2_000_000,
      models: [MODEL],
      onProgress: (line) => progress.push(line),
    });
  } finally {
    restoreEnv();
  }
  t.teardown(() => stack.close());

  t.same(stack.models, [MODEL], 'only the model asked for');
  t.ok(
    progress.some((line) => line.includes('up to date')),
    'the demo model was found, not generated again',
    { progress },
  );
  const ports: number[] = [];
  for (const [name, url] of [
    ['server', stack.serverUrl],
    ['mirror', stack.mirrorUrl],
  ] as const) {
    const parsed = new URL(url);
    t.equal(parsed.hostname, '127.0.0.1', `the ${name} is on loopback`);
    t.ok(Number(parsed.port) > 0, `on a free port (${parsed.port})`);
    ports.push(Number(parsed.port));
  }
  const health = await fetch(`${stack.serverUrl}/health`);
  t.same(await health.json(), { status: 'ok' }, 'the server answers');

  const caches = (await readdir(tmp)).filter((name) => name.startsWith(CACHE_PREFIX));
  t.equal(caches.length, 1, 'one temporary cache');
  const cacheDir = join(tmp, caches[0] ?? '');
  t.same(await filesUnder(cacheDir), [], 'fresh: empty');

  const load = await loadModel(stack.serverUrl, MODEL);
  t.equal(load.status, 200);
  t.same(
    stagesOf(load.events),
    ['processor', 'config', 'download', 'weights', 'ready'],
    'every stage, download included',
  );
  const downloads = load.events.flatMap((e) =>
    e.status === 'loading' && e.stage === 'download' && e.progress ? [e.progress] : [],
  );
  t.ok(downloads.length >= 1, 'download progress reported');
  const total = downloads[0]?.total ?? 0;
  t.ok(total > 0, `a known download total (${total})`);
  t.equal(downloads.at(-1)?.current, total, 'the download completes');
  t.match(load.events.at(-1), { status: 'ready', model: `${MODEL}@main`, cached: false });
  t.ok((await filesUnder(cacheDir)).length > 0, 'the files went to the temporary cache');

  await stack.close();
  t.notOk(await exists(cacheDir), 'close removes the temporary cache');
  for (const port of ports) t.ok(await portFree(port), `port ${port} is free again`);
  await stack.close();
  t.pass('close is idempotent');
});

/** The text of the blessed screen writing to `output`, one line per row (as the dashboard's own screenText reads it). */
function screenOn(output: NodeJS.WritableStream): string | undefined {
  const screens = (
    blessed.screen as unknown as { instances: { program: { output: unknown }; lines: [unknown, string][][] }[] }
  ).instances;
  const screen = screens.find((s) => s.program.output === output);
  return screen?.lines
    .map((row) =>
      row
        .map((cell) => cell[1])
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

/** The text inside session cell `index` of `count` on that screen, its border excluded. */
function cellOn(
  output: NodeJS.WritableStream & { columns: number; rows: number },
  index: number,
  count: number,
): string {
  const rect = gridLayout(count, screenLayout({ cols: output.columns, rows: output.rows }).sessions)[index];
  if (!rect) throw new Error(`no cell ${index}`);
  return (screenOn(output) ?? '')
    .split('\n')
    .slice(rect.top + 1, rect.top + rect.height - 1)
    .map((line) => [...line.padEnd(output.columns)].slice(rect.left + 1, rect.left + rect.width - 1).join(''))
    .join('\n');
}

t.test('the dashboard command with no server opens a session on every demo model of the embedded stack', async (t) => {
  // The demo models come from the shared test directory (through $XDG_CACHE_HOME/modeldeck/demo-models), so nothing
  // is generated; the stack's cache goes to a private TMPDIR, so it can be checked afterwards.
  const shared = await demoModelsDir(DEMO_MODELS.map((m) => m.id));
  const home = await mkdtemp(join(tmpdir(), 'modeldeck-tui-embedded-cmd-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  await mkdir(join(home, 'xdg', 'modeldeck'), { recursive: true });
  await symlink(shared, join(home, 'xdg', 'modeldeck', 'demo-models'));
  await mkdir(join(home, 'tmp'));
  const restoreEnv = setEnv({ XDG_CACHE_HOME: join(home, 'xdg'), TMPDIR: join(home, 'tmp') });
  t.teardown(restoreEnv);

  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input });
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 48 });
  output.resume();
  const stderr = new PassThrough();
  let errors = '';
  stderr.on('data', (c: Buffer) => (errors += c.toString()));
  // 1 MB/s: the tiny model loads in a few seconds; the big ones are still downloading when the test quits.
  const running = runDashboardCommand(['--throttle', '1M'], { input, output, stderr, env: {} });
  let exited: number | undefined;
  void running.then((code) => (exited = code));
  // Should an assertion below throw: Ctrl-C twice quits from any mode (the first asks while something would be lost),
  // and the command then closes the stack.
  t.teardown(async () => {
    if (exited === undefined) input.write('\x03\x03');
    await running;
  });

  const screen = await until('a session per demo model', () => {
    const text = screenOn(output);
    return text !== undefined && DEMO_MODELS.every((m) => text.includes(m.id)) ? text : undefined;
  });
  DEMO_MODELS.forEach((m, i) => t.match(screen, `s${i + 1} ${m.id}`, `session s${i + 1} is ${m.id}`));
  const serverUrl = await until(
    'the demo stack notice',
    () => /demo stack on (http:\/\/127\.0\.0\.1:\d+)/.exec(screenOn(output) ?? '')?.[1],
  );
  const cells = DEMO_MODELS.map((_, i) => cellOn(output, i, DEMO_MODELS.length));
  cells.forEach((cell, i) => t.match(cell, serverUrl, `s${i + 1} is on the embedded server`));
  const caches = (await readdir(join(home, 'tmp'))).filter((name) => name.startsWith(CACHE_PREFIX));
  t.equal(caches.length, 1, 'with a fresh temporary cache');

  // The tiny model really loads, download included (the cache was empty).
  const tiny = DEMO_MODELS.findIndex((m) => m.id === MODEL);
  const ready = await until('the tiny model ready', () => {
    const cell = cellOn(output, tiny, DEMO_MODELS.length);
    return cell.includes('✓ ready') ? cell : undefined;
  });
  // A finished load is one summary line: the whole load's time, then the download's bytes and rate.
  t.match(ready, /✓ ready in [\d.]+s · [\d.]+ [kM]B at [\d.]+ [kM]B\/s/, 'its download ran, to the end');

  // The bigger demo models may still be loading: Q opens the quit dialog on Cancel; ← to Quit, then Enter.
  input.write('Q\x1b[D\r');
  const code = await until('the command to return', () => (exited !== undefined ? { code: exited } : undefined));
  t.equal(code.code, 0, 'quitting exits 0');
  t.equal(screenOn(output), undefined, 'the screen is gone');
  t.equal(errors, '', 'nothing on stderr');
  t.notOk(await exists(join(home, 'tmp', caches[0] ?? '')), 'the temporary cache is removed');
  t.ok(await portFree(Number(new URL(serverUrl).port)), 'the embedded server port is free');
});
