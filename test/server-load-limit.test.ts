// The cap on loads running at once (issue 14, item 3 of its list): past it a load waits its turn, first come first
// served, its stream open; a waiting load aborted by shutdown ends with ABORTED.
import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { startServer } from '../src/server/start.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { loadModel } from './helpers/sse-client.js';
import { until } from './helpers/until.js';

t.test('past --max-loads a load waits its turn, then runs', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, maxLoads: 2 });
  t.teardown(() => server.close());
  const streams = ['org/a', 'org/b', 'org/c', 'org/d'].map((model) => loadModel(server.url, model));
  const a = await gated.loadStarted('org/a@main');
  const b = await gated.loadStarted('org/b@main');
  await until('four loads known to the manager', () => server.manager.loadingRefs().length === 4);
  t.strictSame(gated.started, ['org/a@main', 'org/b@main'], 'two run, two wait');
  b.release();
  const c = await gated.loadStarted('org/c@main');
  t.strictSame(gated.started, ['org/a@main', 'org/b@main', 'org/c@main'], 'the first waiting one goes next');
  a.release();
  (await gated.loadStarted('org/d@main')).release();
  c.release();
  const seen = await Promise.all(streams);
  const stages = seen.map((s) => s.events.map((e) => (e.status === 'loading' ? e.stage : e.status)));
  t.strictSame(stages[0], ['processor', 'ready'], 'org/a ran at once');
  t.strictSame(stages[1], ['processor', 'ready'], 'org/b ran at once');
  t.strictSame(stages[2], ['queued', 'processor', 'ready'], 'org/c waited, then ran');
  t.strictSame(stages[3], ['queued', 'queued', 'processor', 'ready'], 'org/d waited, moved up, then ran');
  t.strictSame(seen[2]?.events[0], {
    status: 'loading',
    model: 'org/c@main',
    stage: 'queued',
    queue: { position: 1, reason: 'load_slot', running: 2, held_by: ['org/a@main', 'org/b@main'] },
  });
  t.equal(
    seen[2]?.raw[0],
    '{"status": "loading", "model": "org/c@main", "stage": "queued", ' +
      '"queue": {"position": 1, "reason": "load_slot", "running": 2, "held_by": ["org/a@main", "org/b@main"]}}',
    "in upstream's format",
  );
  t.strictSame(
    seen[3]?.events.slice(0, 2).map((e) => e.status === 'loading' && e.queue),
    [
      { position: 2, reason: 'load_slot', running: 2, held_by: ['org/a@main', 'org/b@main'] },
      { position: 1, reason: 'load_slot', running: 2, held_by: ['org/a@main', 'org/c@main'] },
    ],
    'told again when its place changed: b ended, c took its slot',
  );
});

t.test('a load waiting its turn when the server stops gets ABORTED', async (t) => {
  const gated = gatedLoader();
  const server = await startServer({ loader: gated.loader, maxLoads: 1 });
  const first = loadModel(server.url, 'org/first');
  await gated.loadStarted('org/first@main');
  const waiting = loadModel(server.url, 'org/waiting');
  await until('both loads known', () => server.manager.loadingRefs().length === 2);
  await server.close();
  for (const [name, seen] of Object.entries({ first: await first, waiting: await waiting })) {
    t.match(seen.events.at(-1), { status: 'error', code: 'ABORTED' }, `${name}: ABORTED`);
  }
  t.strictSame(gated.started, ['org/first@main'], 'the waiting load never started');
});

t.test('serve --max-loads: default 2, 0 for no cap, bad values refused', async (t) => {
  t.equal(resolveServeConfig([], { HF_HOME: t.testdir() })?.maxLoads, 2);
  const config = resolveServeConfig(['--max-loads', '0'], { HF_HOME: t.testdir() });
  if (!config) throw new Error('no config');
  t.equal(serverOptions(config).maxLoads, 0);
  t.throws(() => resolveServeConfig(['--max-loads', 'many'], {}), /--max-loads must be a whole number/);
});
