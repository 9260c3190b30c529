// Preload and readiness (issue 24): `serve --preload` loads a model as soon as the server listens and GET /ready
// answers 503 with Retry-After and {phase, model, elapsed} until it is resident, then 200; `--pin` also keeps a model
// from its idle unload; a preload that fails says why and is tried again; /ready needs no key, as a probe has none.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { resolveServeConfig } from '../src/cli/serve.js';
import { UsageError } from '../src/cli/args.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { serveAsCommand, startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';
const OTHER = 'modeldeck/tiny-chat-b';
const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-ready-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
await cp(join(models, MODEL), join(root, OTHER), { recursive: true });
// About two seconds for the model's megabyte: long enough to see the server not ready.
const mirror = await startTestMirror(root, { linkThrottle: 512 * 1024 });
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** A server as `modeldeck serve ARGS` starts it, from the mirror, with its own cache. */
const serve = (t: Test, args: string[]) => serveAsCommand(t, mirror.url, args);

interface Ready {
  status: number;
  retryAfter: string | null;
  body: { phase: string; model?: string; stage?: string; elapsed: number; error?: { code: string } };
}

async function ready(url: string): Promise<Ready> {
  const res = await fetch(`${url}/ready`);
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Ready['body'] };
}

async function listed(url: string, key: string): Promise<Record<string, unknown> | undefined> {
  const res = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer full-key-ready-0123' } });
  const list = (await res.json()) as { data: Record<string, unknown>[] };
  return list.data.find((m) => m['id'] === key);
}

t.test('--preload holds /ready at 503 with Retry-After until the model is resident, then 200', async (t) => {
  const server = await serve(t, ['--preload', MODEL, '--api-key', 'full-key-ready-0123']);
  const first = await ready(server.url);
  t.equal(first.status, 503, 'not ready while it loads');
  t.match(first.retryAfter, /^\d+$/, 'Retry-After in seconds');
  t.match(first.body, { phase: /^(starting|loading)$/, model: `${MODEL}@main`, elapsed: Number });
  const seen: Ready[] = [first];
  const done = await until('ready', async () => {
    const now = await ready(server.url);
    seen.push(now);
    return now.status === 200 ? now : undefined;
  });
  t.match(done.body, { phase: 'ready', models: [{ model: `${MODEL}@main`, phase: 'resident' }] });
  t.equal(done.retryAfter, null, 'no Retry-After once ready');
  t.ok(
    seen.some((r) => r.body.phase === 'loading' && r.body.stage === 'download'),
    'a probe during the download saw its stage',
  );
  const elapsed = seen.filter((r) => r.status === 503).map((r) => r.body.elapsed);
  t.same(
    elapsed,
    [...elapsed].sort((a, b) => a - b),
    'elapsed grows',
  );
  t.match(await listed(server.url, `${MODEL}@main`), { status: 'loaded' }, 'resident, as /v1/models says');
  const health = await fetch(`${server.url}/health`);
  t.equal(health.status, 200, '/health stays liveness, open');
});

t.test('a server with nothing to preload is ready at once', async (t) => {
  const server = await serve(t, []);
  const now = await ready(server.url);
  t.equal(now.status, 200);
  t.match(now.body, { phase: 'ready', models: [] });
});

t.test('--pin keeps a model past --model-timeout; a preloaded one goes', async (t) => {
  const server = await serve(t, ['--pin', MODEL, '--preload', OTHER, '--model-timeout', '1']);
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  await until('ready', async () => (await ready(server.url)).status === 200);
  const gone = await feed.waitFor('the preloaded model unloaded', (e) => e.event === 'unload');
  t.match(gone.data, { model: `${OTHER}@main`, reason: 'idle' }, 'the preloaded one, for idleness');
  t.match(
    await listed(server.url, `${MODEL}@main`),
    { status: 'loaded', expires_at: null, expires_in_ms: null },
    'the pinned one stays, with no unload scheduled',
  );
  t.equal((await ready(server.url)).status, 200, 'still ready: a preloaded model that idles out loads again on use');
});

t.test('a preload that fails: 503 phase failed, with why', async (t) => {
  const server = await serve(t, ['--preload', 'modeldeck/no-such-model']);
  const failed = await until('the failure', async () => {
    const now = await ready(server.url);
    return now.body.phase === 'failed' ? now : undefined;
  });
  t.equal(failed.status, 503);
  t.match(failed.retryAfter, /^\d+$/);
  t.match(failed.body, { model: 'modeldeck/no-such-model@main', error: { code: 'MODEL_NOT_FOUND' } });
});

t.test('a bad --preload or --pin is a usage error naming the flag', async (t) => {
  t.throws(() => resolveServeConfig(['--preload', '../etc'], {}), UsageError);
  t.throws(() => resolveServeConfig(['--pin', 'a b'], {}), { message: /^--pin: model id/ });
});
