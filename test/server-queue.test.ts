// Waiting, named on the wire (issue 21): a load that waits for a --max-loads slot or for room under --max-models gets
// a `queued` event first, with its place and reason, again whenever its place changes, on its own stream and on the
// feed; and under --max-models, loads that fail never make valid loads beside them fail. Real servers (started as
// `modeldeck serve` starts them), the real mirror, real loads, a real SSE client.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import type { LoadEvent, LoadQueue } from '../src/protocol/events.js';
import { createLoadStreamLint, type LintFinding } from '../src/protocol/lint.js';
import { startServer, type RunningServer } from '../src/server/start.js';
import { watchFeed } from './helpers/feed-client.js';
import { startGateProxy } from './helpers/gate-proxy.js';
import { loadModel } from './helpers/sse-client.js';
import { startTwinMirror, TWIN_A, TWIN_B } from './helpers/stack.js';
import { until } from './helpers/until.js';

const A = TWIN_A;
const B = TWIN_B;
const twins = await startTwinMirror('queue');
const mirror = twins.mirror;
t.teardown(() => twins.close());

/** A server started from `modeldeck serve` flags, on its own cache. */
async function serve(
  t: { teardown(fn: () => unknown): void },
  hubUrl: string,
  flags: string[],
): Promise<RunningServer> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-queue-cache-'));
  const config = resolveServeConfig(['--port', '0', '--hub-url', hubUrl, '--cache-dir', cacheDir, ...flags], {
    HF_HOME: join(cacheDir, 'no-hf-home'),
  });
  if (!config) throw new Error('no config');
  const server = await startServer({ ...serverOptions(config), logger: false });
  t.teardown(async () => {
    await server.close();
    await rm(cacheDir, { recursive: true, force: true });
  });
  return server;
}

const stagesOf = (events: readonly LoadEvent[]): string[] =>
  events.map((e) => (e.status === 'loading' ? e.stage : e.status));
const queueOf = (event: LoadEvent | undefined): LoadQueue | undefined =>
  event?.status === 'loading' ? event.queue : undefined;

t.test('--max-loads 1: a load behind a running one is queued at position 1, then proceeds', async (t) => {
  const server = await serve(t, mirror.url, ['--max-loads', '1']);
  t.teardown(() => mirror.setThrottle(0));
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  mirror.setThrottle(100_000);
  let running = false;
  const first = loadModel(server.url, A, { onEvent: (e) => (running ||= e.status === 'loading') });
  await until('the first load running', () => running);
  const seen: LoadEvent[] = [];
  const second = loadModel(server.url, B, { onEvent: (e) => seen.push(e) });
  await until('the second load told it waits', () => seen.length > 0);
  const expected: LoadQueue = { position: 1, reason: 'load_slot', running: 1, held_by: [`${A}@main`] };
  t.strictSame(seen[0], { status: 'loading', model: `${B}@main`, stage: 'queued', queue: expected }, 'queued first');

  const snapshotWatch = await watchFeed(server.url);
  t.teardown(() => snapshotWatch.close());
  const snapshot = await snapshotWatch.waitFor('a snapshot', (e) => e.event === 'snapshot');
  t.match(
    snapshot.event === 'snapshot' && snapshot.data.models.find((m) => m.model === `${B}@main`),
    { state: 'loading', stage: 'queued', queue: expected, subscribers: 1 },
    'a snapshot shows the waiting load, where it stands',
  );
  const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: Record<string, unknown>[] };
  t.match(
    listed.data.find((m) => m['id'] === `${B}@main`),
    { status: 'loading', stage: 'queued', queue: expected },
    'and so does GET /v1/models',
  );

  mirror.setThrottle(0);
  t.match((await first).events.at(-1), { status: 'ready' });
  const waited = await second;
  const path = stagesOf(waited.events).filter((stage, i, all) => stage !== all[i - 1]);
  t.strictSame(path, ['queued', 'processor', 'config', 'download', 'weights', 'ready'], 'then it ran all its stages');
  t.match(waited.events.at(-1), { status: 'ready', cached: false });
  t.equal(
    waited.raw[0],
    `{"status": "loading", "model": "${B}@main", "stage": "queued", ` +
      `"queue": {"position": 1, "reason": "load_slot", "running": 1, "held_by": ["${A}@main"]}}`,
    "upstream's format, modeldeck's queue after the stage",
  );
  const findings: LintFinding[] = [];
  const lint = createLoadStreamLint({ model: B, strict: true, onFinding: (f) => findings.push(f) });
  for (const data of waited.raw) lint.feed({ kind: 'event', data });
  lint.end();
  t.strictSame(findings, [], 'the protocol lint, held to modeldeck, finds nothing: queued is a known first stage');

  await feed.waitFor(
    'its ready on the feed',
    (e) => e.event === 'load' && e.data.status === 'ready' && e.data.model === `${B}@main`,
  );
  const onFeed = feed.events.flatMap((e) => (e.event === 'load' && e.data.model === `${B}@main` ? [e.data] : []));
  t.strictSame(onFeed, waited.events, 'the feed carries the same frames, queued included');
});

t.test('--max-models 2: two failing loads and two valid ones together; both valid ones end ready', async (t) => {
  // The failing loads' hub requests are held at a gate until the valid ones are known to wait, so that the failing
  // loads hold both slots when the valid ones arrive, whatever the order of the requests.
  const UNKNOWN = 'nobody/no-such-model';
  const BAD_REVISION = `${A}@no-such-branch`;
  const gate = await startGateProxy(mirror.url, (path) => path.includes('/nobody/') || path.includes('no-such-branch'));
  t.teardown(() => gate.close());
  const server = await serve(t, gate.url, ['--max-models', '2']);
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());

  const failing = [loadModel(server.url, UNKNOWN), loadModel(server.url, BAD_REVISION)];
  await until('both failing loads at the hub', () => gate.held.length >= 2);
  const firstEvents: Record<string, LoadEvent[]> = { [A]: [], [B]: [] };
  const valid = [A, B].map((model) => loadModel(server.url, model, { onEvent: (e) => firstEvents[model]?.push(e) }));
  await until('both valid loads told they wait', () => firstEvents[A]?.length && firstEvents[B]?.length);
  const holders = [`${UNKNOWN}@main`, BAD_REVISION];
  t.strictSame(
    [A, B].map((model) => queueOf(firstEvents[model]?.[0])),
    [
      { position: 1, reason: 'model_slot', held_by: holders },
      { position: 2, reason: 'model_slot', held_by: holders },
    ],
    'each valid load waits its turn for a model slot, not refused',
  );

  gate.open();
  const [unknown, badRevision] = await Promise.all(failing);
  t.match(unknown?.events.at(-1), { status: 'error', code: 'MODEL_NOT_FOUND' });
  t.match(badRevision?.events.at(-1), { status: 'error', code: 'REVISION_NOT_FOUND' });
  for (const [i, transcript] of (await Promise.all(valid)).entries()) {
    t.match(transcript.events.at(-1), { status: 'ready', cached: false }, `valid load ${i + 1} ended ready`);
    t.notOk(
      transcript.events.some((e) => e.status === 'error'),
      'and never saw an error',
    );
  }
  const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string; status: string }[] };
  t.strictSame(
    listed.data
      .filter((m) => m.status === 'loaded')
      .map((m) => m.id)
      .sort(),
    [`${A}@main`, `${B}@main`].sort(),
    'both resident',
  );
  t.notOk(
    feed.events.some((e) => e.event === 'load' && e.data.status === 'error' && e.data.code === 'MODELS_BUSY'),
    'no MODELS_BUSY anywhere on the feed',
  );
});
