// huggingface.js (@huggingface/hub) against the mirror as it would against the Hub: its snapshotDownload and
// downloadFileToCacheDir fill a cache directory through the mirror (LFS files redirected to the mirror's CDN), and
// modeldeck's server then loads that cache with --offline and no mirror at all: the cache is one cache.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadFileToCacheDir, snapshotDownload } from '@huggingface/hub';
import t from 'tap';
import { readRef, repoDir } from '../src/server/fetch/model-cache.js';
import { demoModelsDir } from './helpers/demo.js';
import { commitOf } from './helpers/hf-cache.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const TINY = 'modeldeck/tiny-chat';
const demo = await demoModelsDir([TINY]);
const root = await mkdtemp(join(tmpdir(), 'modeldeck-hubjs-root-'));
await cp(join(demo, TINY), join(root, TINY), { recursive: true });
// Files of 100 kB and more are LFS files here, redirected to the CDN; listings come 2 entries a page.
const mirror = await startTestMirror(root, { lfsThreshold: 100_000, redirectLarge: true, pageSize: 2 });
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});
// huggingface.js logs each download with console.debug.
const debug = console.debug;
console.debug = () => undefined;
t.teardown(() => {
  console.debug = debug;
});

const sha256 = async (path: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

t.test('snapshotDownload fills a cache that the server loads offline, without the mirror', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-hubjs-cache-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  mirror.clearRequests();
  const snapshot = await snapshotDownload({ repo: TINY, hubUrl: mirror.url, cacheDir });
  const commit = await commitOf(mirror.url, TINY);
  t.equal(snapshot, join(repoDir(cacheDir, { id: TINY, revision: 'main' }), 'snapshots', commit));
  t.equal(await readRef(cacheDir, { id: TINY, revision: 'main' }), commit, 'refs/main names the commit');
  t.equal(
    await sha256(join(snapshot, 'onnx', 'model.onnx')),
    await sha256(join(demo, TINY, 'onnx', 'model.onnx')),
    'the weights, intact',
  );
  t.match(await readlink(join(snapshot, 'onnx', 'model.onnx')), /^\.\.\/\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
  t.ok(
    mirror.requests.some((r) => r.url.includes('/paths-info/') && r.status === 200),
    'it asked paths-info',
  );
  t.ok(
    mirror.requests.some((r) => r.cdn === true && r.status === 206),
    'and fetched the large file from the CDN',
  );
  t.ok(
    mirror.requests.some((r) => r.url.includes('cursor=')),
    'following the listing pages',
  );

  await mirror.close().then(() => undefined);
  const offline = await startTestServer({ hubUrl: 'http://127.0.0.1:9', cacheDir, offline: true });
  t.teardown(() => offline.close());
  const res = await loadModel(offline.url, TINY);
  t.match(res.events.at(-1), { status: 'ready' }, 'the server loads it offline');
});

t.test('downloadFileToCacheDir puts single files where the server finds them', async (t) => {
  const mirror2 = await startTestMirror(root, { lfsThreshold: 100_000, redirectLarge: true });
  t.teardown(() => mirror2.close());
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-hubjs-files-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const listing = (await (await fetch(`${mirror2.url}/api/models/${TINY}/tree/main?recursive=true`)).json()) as {
    type: string;
    path: string;
  }[];
  const commit = await commitOf(mirror2.url, TINY);
  for (const entry of listing.filter((e) => e.type === 'file')) {
    await downloadFileToCacheDir({ repo: TINY, path: entry.path, revision: commit, hubUrl: mirror2.url, cacheDir });
  }
  // huggingface.js writes no refs/main when asked by commit: the server is asked for that commit.
  await mirror2.close();
  const offline = await startTestServer({ hubUrl: 'http://127.0.0.1:9', cacheDir, offline: true });
  t.teardown(() => offline.close());
  const res = await loadModel(offline.url, `${TINY}@${commit}`);
  t.match(res.events.at(-1), { status: 'ready' }, `loads ${TINY}@${commit} offline`);
});
