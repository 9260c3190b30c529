// Links in the places the server and the mirror walk: a snapshot with links that loop back on their own directory, a
// mirror repository with the same, and a snapshot file linked out of the cache. Through the real mirror, the real
// server and real loads.
import { cp, mkdtemp, readlink, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { snapshotDir } from '../src/server/fetch/model-cache.js';
import { demoModelsDir } from './helpers/demo.js';
import { watchFeed } from './helpers/feed-client.js';
import { commitOf } from './helpers/hf-cache.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const TINY = 'modeldeck/tiny-chat';
const LOOPED = 'test/looped';
const demo = await demoModelsDir([TINY]);

const root = await mkdtemp(join(tmpdir(), 'modeldeck-links-root-'));
await cp(join(demo, TINY), join(root, TINY), { recursive: true });
// A mirror repository whose directories link back to themselves: `loop -> .` at the top, `onnx/up -> ..` below.
await cp(join(demo, TINY), join(root, LOOPED), { recursive: true });
await symlink('.', join(root, LOOPED, 'loop'));
await symlink('..', join(root, LOOPED, 'onnx', 'up'));
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** A cache holding TINY, complete, loaded once through the mirror. */
async function seededCache(): Promise<{ cacheDir: string; snapshot: string }> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-links-cache-'));
  const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
  const res = await loadModel(server.url, TINY);
  await server.close();
  if (res.events.at(-1)?.status !== 'ready') throw new Error(`seeding failed: ${JSON.stringify(res.events.at(-1))}`);
  const ref = { id: TINY, revision: 'main' };
  return { cacheDir, snapshot: snapshotDir(cacheDir, ref, await commitOf(mirror.url, TINY)) };
}

/** GETs `path` of `url`, giving up (a rejection) after a generous bound: a walk that loops never answers. */
async function answered(url: string, path: string): Promise<unknown> {
  const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(20_000) });
  return res.json();
}

t.test('a cached snapshot with two looping links: /v1/models and /events answer, and the model loads', async (t) => {
  const { cacheDir, snapshot } = await seededCache();
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  await symlink('.', join(snapshot, 'loop'));
  await symlink('..', join(snapshot, 'onnx', 'up'));
  const server = await startTestServer({ hubUrl: mirror.url, cacheDir, offline: true });
  t.teardown(() => server.close());

  const models = (await answered(server.url, '/v1/models')) as { data: { id: string; status: string }[] };
  t.same(models.data, [{ id: `${TINY}@main`, object: 'model', created: 0, owned_by: 'modeldeck', status: 'cached' }]);

  const feed = await watchFeed(server.url);
  t.teardown(() => feed.close());
  const snapshotEvent = await feed.waitFor('the feed snapshot', (e) => e.event === 'snapshot', 20_000);
  t.match(snapshotEvent, { event: 'snapshot', data: { models: [{ model: `${TINY}@main`, state: 'cached' }] } });

  const res = await loadModel(server.url, TINY);
  t.equal(res.events.at(-1)?.status, 'ready', 'the looped snapshot loads offline: the links are not walked');
});

t.test('the mirror lists and serves a repository with looping links, and the server loads it', async (t) => {
  const sha = await commitOf(mirror.url, LOOPED);
  t.match(sha, /^[0-9a-f]{40}$/, 'the revision answers');
  const tree = (await answered(mirror.url, `/api/models/${LOOPED}/tree/main?recursive=true`)) as { path: string }[];
  const paths = tree.map((entry) => entry.path);
  t.ok(paths.includes('onnx/model.onnx'), 'the real files are listed');
  t.same(
    paths.filter((path) => path.includes('loop') || path.split('/').includes('up')),
    [],
    'a link back to a directory it is in is not listed',
  );
  const throughLoop = await fetch(`${mirror.url}/${LOOPED}/resolve/main/loop/config.json`);
  t.equal(throughLoop.status, 404, 'nor served through');
  await throughLoop.arrayBuffer();

  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const res = await loadModel(server.url, LOOPED);
  t.equal(res.events.at(-1)?.status, 'ready');
});

const SECRET = 'TOP-SECRET-do-not-print';

t.test('a snapshot file linked out of the cache is refused offline, never quoted', async (t) => {
  const { cacheDir, snapshot } = await seededCache();
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const outside = await mkdtemp(join(tmpdir(), 'modeldeck-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  await writeFile(join(outside, 'secret.txt'), `${SECRET}\n`);
  await unlink(join(snapshot, 'config.json'));
  await symlink(join(outside, 'secret.txt'), join(snapshot, 'config.json'));

  const server = await startTestServer({ hubUrl: mirror.url, cacheDir, offline: true });
  t.teardown(() => server.close());
  const res = await loadModel(server.url, TINY);
  const last = res.events.at(-1);
  t.match(last, { status: 'error', code: 'OFFLINE_NOT_CACHED', message: /config\.json.*outside the cache/ });
  t.notMatch(JSON.stringify(res.events), /TOP-SECRET/, 'the linked file is not read into the error');
  const models = (await answered(server.url, '/v1/models')) as { data: unknown[] };
  t.same(models.data, [], 'nor listed as cached');
});

t.test('online, a snapshot file linked out of the cache is fetched again and its link replaced', async (t) => {
  const { cacheDir, snapshot } = await seededCache();
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const outside = await mkdtemp(join(tmpdir(), 'modeldeck-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  // The size of the real config.json, so that a size check alone would take it for the file.
  const size = (await stat(join(snapshot, 'config.json'))).size;
  await writeFile(join(outside, 'secret.txt'), SECRET.padEnd(size, '!'));
  await unlink(join(snapshot, 'config.json'));
  await symlink(join(outside, 'secret.txt'), join(snapshot, 'config.json'));

  const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
  t.teardown(() => server.close());
  const res = await loadModel(server.url, TINY);
  t.equal(res.events.at(-1)?.status, 'ready');
  t.notMatch(JSON.stringify(res.events), /TOP-SECRET/);
  t.match(await readlink(join(snapshot, 'config.json')), /^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/, 'linked into blobs');
});
