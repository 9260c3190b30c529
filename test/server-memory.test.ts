// --max-memory (issue 24): a load is admitted only if its weights, estimated from the listing, fit beside the
// resident models; idle models are evicted first; otherwise it is refused before a byte of its weights is fetched,
// with the estimate and the budget; "force": true loads anyway. /v1/models and the feed say the memory.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { defaultMaxMemory, resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { loadModel } from './helpers/sse-client.js';
import { fileDownloads, serveAsCommand, startTestMirror } from './helpers/stack.js';

const TINY = 'modeldeck/tiny-chat';
const BIG = 'modeldeck/chat-100m';
const models = await demoModelsDir([TINY, BIG]);
const root = await mkdtemp(join(tmpdir(), 'modeldeck-memory-root-'));
for (const id of [TINY, BIG]) await cp(join(models, id), join(root, id), { recursive: true });
for (const copy of ['b', 'c']) await cp(join(models, TINY), join(root, `${TINY}-${copy}`), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** A server as `modeldeck serve ARGS` starts it, from the mirror, with its own cache. */
const serve = (t: Test, args: string[]) => serveAsCommand(t, mirror.url, args);

interface Listed {
  data: { id: string; status: string; size_bytes?: number }[];
  memory: { rss_bytes: number; weights_bytes: number; budget_bytes: number | null };
}

async function listed(url: string): Promise<Listed> {
  return (await (await fetch(`${url}/v1/models`)).json()) as Listed;
}

t.test('--max-memory 60M refuses the 100 MB model before a byte of its weights', async (t) => {
  const server = await serve(t, ['--max-memory', '60M']);
  const before = fileDownloads(mirror).length;
  const load = await loadModel(server.url, BIG);
  const last = load.events.at(-1);
  t.match(last, {
    status: 'error',
    code: 'MEMORY_BUDGET_EXCEEDED',
    message: /its weights are about 1\d\d\.\d MB .*memory budget is 60\.0 MB \(--max-memory 60000000\).*force/,
  });
  t.notOk(
    load.events.some((e) => e.status === 'loading' && e.stage === 'download'),
    'no download stage',
  );
  const fetched = fileDownloads(mirror).slice(before);
  t.notOk(
    fetched.some((path) => /\.onnx/.test(path)),
    `no weight file asked for (${fetched.join(', ')})`,
  );
  const after = await listed(server.url);
  t.match(after.memory, { rss_bytes: Number, weights_bytes: 0, budget_bytes: 60_000_000 });
  t.ok(after.memory.rss_bytes > 10_000_000, 'the process’s resident set');
});

t.test('idle models are evicted first; force loads past the budget', async (t) => {
  const server = await serve(t, ['--max-memory', '2.5M']);
  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  await loadModel(server.url, TINY);
  await loadModel(server.url, `${TINY}-b`);
  const two = await listed(server.url);
  const sizes = two.data.filter((m) => m.status === 'loaded').map((m) => m.size_bytes ?? 0);
  t.equal(sizes.length, 2, 'two fit');
  t.equal(two.memory.weights_bytes, sizes[0]! + sizes[1]!, 'their weights, summed');

  const third = await loadModel(server.url, `${TINY}-c`);
  t.match(third.events.at(-1), { status: 'ready' }, 'a third loads');
  const evicted = await feed.waitFor('an eviction', (e) => e.event === 'unload');
  t.match(evicted.data, { model: `${TINY}@main`, reason: 'evicted' }, 'the least recently used went first');

  const small = await serve(t, ['--max-memory', '1M']);
  const refused = await loadModel(small.url, TINY);
  t.match(refused.events.at(-1), { status: 'error', code: 'MEMORY_BUDGET_EXCEEDED' }, 'over the budget: refused');
  const forced = await fetch(`${small.url}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: TINY, force: true }),
  });
  t.match(await forced.text(), /"status": "ready"/, 'force: loaded anyway');
  const feedSmall = await watchFeed(small.url);
  t.teardown(() => feedSmall.close());
  const snapshot = await feedSmall.waitFor('the snapshot', (e) => e.event === 'snapshot');
  t.match(snapshot.data, { memory: { rss_bytes: Number, weights_bytes: Number, budget_bytes: 1_000_000 } });
});

t.test('a bad --max-memory is a usage error', async (t) => {
  t.throws(() => resolveServeConfig(['--max-memory', 'lots'], {}), { message: /--max-memory must be a byte count/ });
});

t.test('with no --max-memory the budget is half of the machine’s memory; 0 means none', async (t) => {
  const resolve = (args: string[]) => {
    const config = resolveServeConfig(args, {});
    if (config === null) throw new Error('no config');
    return config;
  };
  const config = resolve([]);
  t.equal(config.maxMemory, defaultMaxMemory(), 'the default');
  t.ok(config.maxMemory > 0 && config.maxMemory <= totalmem() / 2, `${config.maxMemory} bytes: at most half`);
  t.equal(defaultMaxMemory(4 * 1024 ** 3), 2 * 1024 ** 3, 'a 4 GiB machine: 2 GiB');
  t.equal(defaultMaxMemory(3 * 1024 ** 2 + 123), 1024 ** 2, 'in whole MiB, rounded down');
  const none = resolve(['--max-memory', '0']);
  t.equal(none.maxMemory, 0, '--max-memory 0: no budget');
  t.notOk('maxMemoryBytes' in serverOptions(none), 'and none is set');
  t.match(serverOptions(config), { maxMemoryBytes: defaultMaxMemory() }, 'the default reaches the server');
});
