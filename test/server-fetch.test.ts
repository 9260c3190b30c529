// The fetcher through the real mirror and the real server: faults in the middle of the ~100 MB demo model's big
// file, a server killed half-way, corruption in transit, the Hugging Face cache shared with other tools, commits.
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { scanCacheDir } from '@huggingface/hub';
import t, { type Test } from 'tap';
import type { MirrorFault } from '../src/mirror/mirror.js';
import type { LoadEvent } from '../src/protocol/events.js';
import { blobFile, readRef, refFile, repoDir, snapshotDir } from '../src/server/fetch/model-cache.js';
import { resolveServeConfig } from '../src/cli/serve.js';
import { demoModelsDir } from './helpers/demo.js';
import { bytesSentFor, cacheTree, commitOf, fileGets } from './helpers/hf-cache.js';
import { loadModel, stagesOf } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const BIG = 'modeldeck/chat-100m';
const BIG_FILE = 'onnx/model.onnx_data';
const TINY = 'modeldeck/tiny-chat';
const demo = await demoModelsDir([TINY, BIG]);
const bigSize = (await stat(join(demo, BIG, ...BIG_FILE.split('/')))).size;
const FAST = { backoffMs: 20, maxBackoffMs: 200 };

// A root of our own: the demo models, and a repository whose main moves (with a tag of the same content).
const root = await mkdtemp(join(tmpdir(), 'modeldeck-fetch-root-'));
await cp(join(demo, TINY), join(root, TINY), { recursive: true });
await cp(join(demo, TINY), join(root, 'test', 'moving'), { recursive: true });
await cp(join(demo, TINY), join(root, 'test', 'moving@v1'), { recursive: true });
// A tokenizer.json of real size (7-17 MB on the Hub): here 2 MiB, by trailing whitespace, still the same JSON.
await cp(join(demo, TINY), join(root, 'test', 'big-tokenizer'), { recursive: true });
const bigTokenizer = join(root, 'test', 'big-tokenizer', 'tokenizer.json');
await writeFile(bigTokenizer, `${await readFile(bigTokenizer, 'utf8')}${' '.repeat(2 * 1024 * 1024)}`);
await mkdir(join(root, 'modeldeck'), { recursive: true });
await symlink(join(demo, BIG), join(root, BIG));
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** The download progress of a transcript holds the invariants: total fixed and known first, monotone, ends there. */
function assertDownloadProgress(t: Test, events: readonly LoadEvent[], label: string): number {
  const points = events.flatMap((e) =>
    e.status === 'loading' && e.stage === 'download' && e.progress ? [e.progress] : [],
  );
  const total = points[0]?.total ?? -1;
  t.ok(points.length > 1, `${label}: download progress reported`);
  t.equal(points[0]?.current, 0, `${label}: the first download event is 0 of the total`);
  t.ok(
    points.every((p) => p.total === total),
    `${label}: the total (${total}) never changes`,
  );
  t.ok(
    points.every((p, i) => p.current <= total && p.current >= (points[i - 1]?.current ?? 0)),
    `${label}: current never decreases nor passes the total`,
  );
  t.equal(points.at(-1)?.current, total, `${label}: ends at the total`);
  return total;
}

const ready = (events: readonly LoadEvent[]): boolean => events.at(-1)?.status === 'ready';

t.test('each fault in the middle of the big file ends ready, with at most 1.1x its bytes on the wire', async (t) => {
  const middle = Math.floor(bigSize / 2);
  const faults: MirrorFault[] = [
    { kind: 'reset', path: BIG_FILE, afterBytes: middle, times: 1 },
    { kind: 'truncate', path: BIG_FILE, bytes: middle, times: 1 },
    { kind: 'stall', path: BIG_FILE, afterBytes: middle, times: 1 },
    { kind: 'status', path: BIG_FILE, status: 503, times: 2 },
    { kind: 'status', path: BIG_FILE, status: 429, times: 1 },
  ];
  // The mirror hashes each file once, on first use (100 MB take a while on a busy host): not inside a timed request.
  await commitOf(mirror.url, BIG);
  for (const fault of faults) {
    const label = fault.kind === 'status' ? `HTTP ${fault.status}` : fault.kind;
    const server = await startTestServer({ hubUrl: mirror.url, stallTimeoutMs: 1000, download: FAST });
    mirror.setFaults([fault]);
    mirror.clearRequests();
    try {
      const res = await loadModel(server.url, BIG);
      t.ok(ready(res.events), `${label}: ready (${JSON.stringify(res.events.at(-1))})`);
      t.ok(
        mirror.requests.some((r) => r.fault === fault.kind),
        `${label}: the fault hit`,
      );
      const sent = bytesSentFor(mirror, BIG_FILE);
      t.ok(sent >= bigSize && sent <= bigSize * 1.1, `${label}: ${sent} bytes on the wire for ${bigSize}`);
      const parts = fileGets(mirror).filter((g) => g.path === BIG_FILE && g.range !== undefined);
      t.ok(parts.length > 8, `${label}: in ${parts.length} ranged parts`);
      assertDownloadProgress(t, res.events, label);
    } finally {
      mirror.setFaults([]);
      await server.close();
    }
  }
});

t.test('a flipped byte never yields a corrupt snapshot', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-fetch-flip-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const server = await startTestServer({ hubUrl: mirror.url, cacheDir, download: FAST });
  t.teardown(() => server.close());

  mirror.setFaults([{ kind: 'flip', path: BIG_FILE, afterBytes: Math.floor(bigSize / 3), times: 1 }]);
  const once = await loadModel(server.url, BIG);
  t.ok(ready(once.events), 'flipped once: fetched again, ready');
  const snapshot = snapshotDir(cacheDir, { id: BIG, revision: 'main' }, await commitOf(mirror.url, BIG));
  const sha = async (path: string): Promise<string> =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  t.equal(await sha(join(snapshot, BIG_FILE)), await sha(join(demo, BIG, BIG_FILE)), 'the snapshot file is intact');
  assertDownloadProgress(t, once.events, 'flipped once');

  mirror.setFaults([{ kind: 'flip', path: 'onnx/model.onnx', afterBytes: 1000 }]);
  const always = await loadModel(server.url, TINY);
  mirror.setFaults([]);
  const last = always.events.at(-1);
  t.equal(last?.status, 'error', 'flipped every time: the load fails');
  t.match(last?.status === 'error' ? last.message : '', /onnx\/model\.onnx failed its checksum twice/);
  const tinySnapshot = snapshotDir(cacheDir, { id: TINY, revision: 'main' }, await commitOf(mirror.url, TINY));
  t.notOk((await cacheTree(tinySnapshot)).includes('onnx/model.onnx'), 'not in the snapshot');
  const blobs = await readdir(join(repoDir(cacheDir, { id: TINY, revision: 'main' }), 'blobs'));
  t.notOk(
    blobs.some((name) => name.endsWith('.incomplete')),
    'and no partial blob kept either',
  );
});

/** The mirror's listing of `id` at main, with the etag huggingface_hub names each blob by. */
async function listingOf(id: string): Promise<{ path: string; etag: string }[]> {
  const res = await fetch(`${mirror.url}/api/models/${id}/tree/main?recursive=true`);
  const entries = (await res.json()) as { type: string; path: string; oid: string; lfs?: { oid: string } }[];
  return entries.filter((e) => e.type === 'file').map((e) => ({ path: e.path, etag: e.lfs?.oid ?? e.oid }));
}

t.test('a cache laid out as Python lays it out loads offline and online without a download', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-fetch-python-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const ref = { id: TINY, revision: 'main' };
  const commit = await commitOf(mirror.url, TINY);
  // By hand: refs/main, blobs/{etag}, snapshots/{commit}/{path} as relative links, no modeldeck file anywhere.
  await mkdir(join(repoDir(cacheDir, ref), 'refs'), { recursive: true });
  await writeFile(refFile(cacheDir, ref), commit);
  for (const { path, etag } of await listingOf(TINY)) {
    const blob = blobFile(cacheDir, ref, etag);
    await mkdir(join(blob, '..'), { recursive: true });
    await copyFile(join(root, TINY, ...path.split('/')), blob);
    const link = join(snapshotDir(cacheDir, ref, commit), ...path.split('/'));
    await mkdir(join(link, '..'), { recursive: true });
    await symlink(relative(join(link, '..'), blob), link);
  }

  mirror.clearRequests();
  const offline = await startTestServer({ hubUrl: mirror.url, cacheDir, offline: true });
  t.teardown(() => offline.close());
  const off = await loadModel(offline.url, TINY);
  t.same(stagesOf(off.events), ['processor', 'config', 'weights', 'ready'], 'offline: no download stage');
  t.same(mirror.requests, [], 'offline: no hub request');
  await offline.close();

  const online = await startTestServer({ hubUrl: mirror.url, cacheDir });
  t.teardown(() => online.close());
  const on = await loadModel(online.url, TINY);
  t.same(stagesOf(on.events), ['processor', 'config', 'weights', 'ready'], 'online: no download stage');
  t.same(fileGets(mirror), [], 'online: the listing only, no file fetched');
  t.ok(
    await stat(join(repoDir(cacheDir, ref), 'trees', `${commit}.json`)),
    "the commit's listing is kept beside its snapshot",
  );
  await online.close();

  // A commit never changes: once listed, an online load of it asks the hub only what the revision names now.
  mirror.clearRequests();
  const again = await startTestServer({ hubUrl: mirror.url, cacheDir });
  t.teardown(() => again.close());
  t.equal((await loadModel(again.url, TINY)).events.at(-1)?.status, 'ready');
  t.same(
    mirror.requests.map((r) => `${r.method} ${r.url}`),
    [`GET /api/models/${TINY}/revision/main`],
    'online, cached: one API call, for the revision',
  );
  const listed = (await (await fetch(`${again.url}/v1/models`)).json()) as { data: { id: string }[] };
  t.ok(
    listed.data.some((m) => m.id === `${TINY}@main`),
    'listed as cached',
  );
});

t.test(
  'what modeldeck downloads is a cache huggingface.js reads; main moves; two names share one snapshot',
  async (t) => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-fetch-commits-'));
    t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
    const id = 'test/moving';
    const ref = { id, revision: 'main' };
    const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
    t.teardown(() => server.close());
    const first = await commitOf(mirror.url, id);
    t.ok(ready((await loadModel(server.url, id)).events), 'main loads');

    const scan = await scanCacheDir(cacheDir);
    t.same(scan.warnings, [], 'huggingface.js finds nothing wrong with the cache');
    const repo = scan.repos.find((r) => r.id.name === id);
    t.same(
      repo?.revisions.map((r) => ({ commit: r.commitOid, refs: r.refs })),
      [{ commit: first, refs: ['main'] }],
      'and sees the commit and its ref',
    );
    // huggingface.js's scanner does not descend into snapshot subdirectories (onnx/): the top-level files.
    const files = repo?.revisions[0]?.files ?? [];
    t.same(
      files.map((f) => f.path.slice(f.path.lastIndexOf('/') + 1)).sort(),
      ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'],
      'and its files',
    );
    t.ok(
      files.every((f) => f.blob.path.startsWith(join(repoDir(cacheDir, ref), 'blobs'))),
      'each resolved to a blob',
    );

    mirror.clearRequests();
    t.ok(ready((await loadModel(server.url, `${id}@${first}`)).events), 'the same commit by its sha loads');
    t.ok(ready((await loadModel(server.url, `${id}@v1`)).events), 'and by a tag of the same content');
    t.same(fileGets(mirror), [], 'no file fetched for either: one snapshot, one set of blobs');
    t.equal(await readRef(cacheDir, { id, revision: 'v1' }), first, 'refs/v1 names the same commit');
    t.same(await readdir(join(repoDir(cacheDir, ref), 'snapshots')), [first], 'one snapshot');

    // A new commit on main: generation_config.json changes.
    const path = join(root, 'test', 'moving', 'generation_config.json');
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...config, modeldeck_test: 2 }));
    const second = await commitOf(mirror.url, id);
    t.not(second, first, 'the mirror derives a new commit from the new content');
    const restarted = await startTestServer({ hubUrl: mirror.url, cacheDir });
    t.teardown(() => restarted.close());
    mirror.clearRequests();
    t.ok(ready((await loadModel(restarted.url, id)).events), 'main loads again');
    t.same(
      fileGets(mirror).map((g) => g.path),
      ['generation_config.json'],
      'only the changed file is fetched; the others are linked from the blobs',
    );
    t.equal(await readRef(cacheDir, ref), second, 'refs/main moved to the new commit');
    const snapshot = snapshotDir(cacheDir, ref, second);
    t.same(JSON.parse(await readFile(join(snapshot, 'generation_config.json'), 'utf8')), {
      ...config,
      modeldeck_test: 2,
    });
    t.equal(
      (await readdir(join(repoDir(cacheDir, ref), 'blobs'))).length,
      6,
      'five blobs of the first commit plus the changed one',
    );
  },
);

t.test('a tokenizer file over 1 MiB is fetched in the download stage, counted in its total', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());
  const res = await loadModel(server.url, 'test/big-tokenizer');
  t.same(stagesOf(res.events), ['processor', 'config', 'download', 'weights', 'ready']);
  const total = assertDownloadProgress(t, res.events, 'big tokenizer');
  const sizeOf = async (path: string): Promise<number> => (await stat(join(root, 'test', 'big-tokenizer', path))).size;
  t.equal(
    total,
    (await sizeOf('tokenizer.json')) + (await sizeOf('tokenizer_config.json')) + (await sizeOf('onnx/model.onnx')),
    'the tokenizer files and the weights',
  );
  const chat = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'test/big-tokenizer', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 }),
  });
  t.equal(chat.status, 200, 'and the tokenizer loaded after the download chats');
});

t.test('serve: the cache directory and the download connections', async (t) => {
  const resolve = (argv: string[], env: NodeJS.ProcessEnv) =>
    resolveServeConfig(argv, { HF_HOME: '/nonexistent/hf', ...env });
  t.equal(resolve([], {})?.cacheDir, '/nonexistent/hf/hub', 'HF_HOME/hub by default');
  t.equal(resolve([], { HF_HUB_CACHE: '/c' })?.cacheDir, '/c', 'HF_HUB_CACHE wins');
  t.equal(resolve(['--cache-dir', '/d'], { HF_HUB_CACHE: '/c' })?.cacheDir, '/d', 'the flag wins over both');
  t.equal(resolve([], {})?.downloadConnections, 8, '8 connections by default');
  t.equal(resolve(['--download-connections', '2'], {})?.downloadConnections, 2);
  for (const bad of ['0', '65', 'x', '1.5']) {
    t.throws(() => resolve(['--download-connections', bad], {}), /--download-connections must be a whole number/);
  }
});
