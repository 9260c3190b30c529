// Every byte received is kept: a real `modeldeck serve` killed with SIGKILL at several points of the ~100 MB demo
// model's big file, and loads cancelled at several points, resume with only the holes fetched (counted at the mirror,
// behind a slow link); two servers sharing one cache do not spoil each other's partial files.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Mirror } from '../src/mirror/mirror.js';
import type { LoadEvent } from '../src/protocol/events.js';
import { blobLockPath } from '../src/server/fetch/blob-lock.js';
import { holes, type ByteSpan } from '../src/server/fetch/byte-spans.js';
import { blobFile, snapshotDir } from '../src/server/fetch/model-cache.js';
import { demoModelsDir } from './helpers/demo.js';
import { bytesSentFor, commitOf, fileGets, partialOf } from './helpers/hf-cache.js';
import { modeldeckBin } from './helpers/repo.js';
import { loadModel } from './helpers/sse-client.js';
import { listeningUrl, startTestMirror, startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { untracked } from './helpers/untracked.js';

const BIG = 'modeldeck/chat-100m';
const BIG_FILE = 'onnx/model.onnx_data';
const demo = await demoModelsDir([BIG]);
const bigBytes = await readFile(join(demo, BIG, ...BIG_FILE.split('/')));
const bigSize = bigBytes.length;
const root = await mkdtemp(join(tmpdir(), 'modeldeck-resume-root-'));
await mkdir(join(root, 'modeldeck'), { recursive: true });
await symlink(join(demo, BIG), join(root, BIG));
const mirror: Mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});
const ref = { id: BIG, revision: 'main' };
const commit = await commitOf(mirror.url, BIG);
const listing = (await (await fetch(`${mirror.url}/api/models/${BIG}/tree/${commit}?recursive=true`)).json()) as {
  path: string;
  lfs?: { oid: string };
}[];
const etag = listing.find((entry) => entry.path === BIG_FILE)?.lfs?.oid ?? '';
/** At most this many bytes sent by the mirror may be lost to a stop (the figure: 1.05 of what is missing). */
const LOSS = 0.05 * bigSize;

/** The ranges of the big file the mirror was asked for since it was last cleared. */
function rangesAsked(): ByteSpan[] {
  return fileGets(mirror)
    .filter((get) => get.path === BIG_FILE)
    .map((get) => {
      const match = /^bytes=(\d+)-(\d+)$/.exec(get.range ?? '');
      return match === null ? ([0, bigSize] as const) : ([Number(match[1]), Number(match[2]) + 1] as const);
    });
}

/** Every range asked lies within the holes the partial file had before (nothing it held is fetched again). */
function assertOnlyHoles(t: Test, before: readonly ByteSpan[], label: string): void {
  const gaps = holes(before, bigSize);
  const outside = rangesAsked().filter(([start, end]) => !gaps.some(([a, b]) => start >= a && end <= b));
  t.same(outside, [], `${label}: every range asked lies in a hole of the partial file`);
}

/** The download progress holds: total fixed and first, monotone, ends at the total; returns the total. */
function downloadTotal(t: Test, events: readonly LoadEvent[], label: string): number {
  const points = events.flatMap((e) =>
    e.status === 'loading' && e.stage === 'download' && e.progress ? [e.progress] : [],
  );
  const total = points[0]?.total ?? -1;
  t.equal(points[0]?.current, 0, `${label}: the first download event is 0 of the total`);
  t.ok(
    points.every((p, i) => p.total === total && p.current <= total && p.current >= (points[i - 1]?.current ?? 0)),
    `${label}: the total never changes, the figure never decreases nor passes it`,
  );
  t.equal(points.at(-1)?.current, total, `${label}: ends at the total`);
  return total;
}

/** Calls `stop` once the load's download has reached `fraction` of its total. */
function stopAt(fraction: number, stop: () => void): (event: LoadEvent) => void {
  let stopped = false;
  return (event) => {
    const p = event.status === 'loading' && event.stage === 'download' ? event.progress : undefined;
    if (stopped || p === undefined || p.total === null || p.current < p.total * fraction) return;
    stopped = true;
    stop();
  };
}

/** A `modeldeck serve` child on `cacheDir`; resolves with its URL and the promise of its exit. */
async function serveChild(
  t: Test,
  cacheDir: string,
): Promise<{ url: string; child: ChildProcess; exited: Promise<unknown> }> {
  const bin = modeldeckBin;
  const args = ['serve', '--port', '0', '--hub-url', mirror.url, '--cache-dir', cacheDir, '--log-level', 'silent'];
  const child = spawn(...untracked(process.execPath, [bin, ...args]), { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(() => child.kill('SIGKILL'));
  return { url: await listeningUrl(child), child, exited };
}

/** The partial file of the big file: what it holds once no server writes it (its lock is free). */
async function settledPartial(blob: string): Promise<Awaited<ReturnType<typeof partialOf>>> {
  await until(
    'the blob lock to be free',
    async () => (await stat(blobLockPath(blob)).catch(() => undefined)) === undefined,
  );
  return partialOf(blob, bigSize);
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

t.test('SIGKILL at several points of a slow download: each restart fetches only the holes', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-resume-kill-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const blob = blobFile(cacheDir, ref, etag);
  // 2 MB/s a connection and 8 MB/s in all: a slow CDN link.
  mirror.setThrottle(2_000_000);
  mirror.setLinkThrottle(8_000_000);
  t.teardown(() => {
    mirror.setThrottle(0);
    mirror.setLinkThrottle(0);
  });
  for (const [round, fraction] of [0.35, 0.4, 0.5].entries()) {
    const before = await partialOf(blob, bigSize);
    mirror.clearRequests();
    const server = await serveChild(t, cacheDir);
    await loadModel(server.url, BIG, { onEvent: stopAt(fraction, () => server.child.kill('SIGKILL')) }).catch(
      () => undefined,
    );
    await server.exited;
    const after = await partialOf(blob, bigSize);
    const label = `kill ${round + 1} (${Math.round(fraction * 100)} % of what was left)`;
    t.equal(after.discarded, undefined, `${label}: the journal is believed after the kill`);
    t.ok(after.held > before.held, `${label}: the partial file grew (${before.held} → ${after.held} bytes)`);
    assertOnlyHoles(t, before.spans, label);
    const lost = bytesSentFor(mirror, BIG_FILE) - (after.held - before.held);
    t.ok(lost <= LOSS, `${label}: ${lost} bytes sent were lost to the kill (at most ${LOSS})`);
  }
  mirror.setThrottle(0);
  mirror.setLinkThrottle(0);
  const before = await partialOf(blob, bigSize);
  mirror.clearRequests();
  const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
  t.teardown(() => server.close());
  const done = await loadModel(server.url, BIG);
  t.equal(done.events.at(-1)?.status, 'ready', 'the last server loads it');
  assertOnlyHoles(t, before.spans, 'the last load');
  // Every byte the file lacked, and at most what was in flight on a connection whose range a free one took half of
  // near the end (the download's tail is shared, file-parts.ts): a few socket buffers, never a part again.
  const lacked = bigSize - before.held;
  const sent = bytesSentFor(mirror, BIG_FILE);
  t.ok(sent >= lacked && sent <= lacked + 1024 * 1024, `fetching the bytes the file lacked: ${sent} for ${lacked}`);
  const total = downloadTotal(t, done.events, 'resumed');
  t.ok(
    total >= bigSize - before.held && total < bigSize - before.held + 2_000_000,
    `the total is what was left (${total})`,
  );
  const file = join(snapshotDir(cacheDir, ref, commit), ...BIG_FILE.split('/'));
  t.equal(sha256(await readFile(file)), sha256(bigBytes), 'the snapshot file is the file, byte for byte');
  const left = (await readdir(join(blob, '..'))).filter((name) => name.includes('.modeldeck.'));
  t.same(left, [], 'no partial file or journal left');
});

t.test('a load cancelled at several points keeps every byte received; the next fetches only the holes', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-resume-cancel-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const blob = blobFile(cacheDir, ref, etag);
  mirror.setThrottle(2_000_000);
  mirror.setLinkThrottle(8_000_000);
  t.teardown(() => {
    mirror.setThrottle(0);
    mirror.setLinkThrottle(0);
  });
  const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
  t.teardown(() => server.close());
  const cancel = (): void =>
    void fetch(`${server.url}/unload_model`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: BIG }),
    });
  for (const [round, fraction] of [0.3, 0.5, 0.5].entries()) {
    const before = await partialOf(blob, bigSize);
    mirror.clearRequests();
    const res = await loadModel(server.url, BIG, { onEvent: stopAt(fraction, cancel) });
    const last = res.events.at(-1);
    const label = `cancel ${round + 1}`;
    t.equal(last?.status === 'error' ? last.code : last?.status, 'CANCELLED', `${label}: the load ends CANCELLED`);
    const after = await settledPartial(blob);
    t.ok(after.held > before.held, `${label}: the partial file grew (${before.held} → ${after.held} bytes)`);
    assertOnlyHoles(t, before.spans, label);
    const lost = bytesSentFor(mirror, BIG_FILE) - (after.held - before.held);
    t.ok(lost <= LOSS, `${label}: ${lost} bytes sent were lost to the cancel (in flight on the sockets)`);
  }
  mirror.setThrottle(0);
  mirror.setLinkThrottle(0);
  const before = await partialOf(blob, bigSize);
  mirror.clearRequests();
  const done = await loadModel(server.url, BIG);
  t.equal(done.events.at(-1)?.status, 'ready', 'the next load completes');
  assertOnlyHoles(t, before.spans, 'the last load');
  // Every byte the file lacked, and at most what was in flight on a connection whose range a free one took half of
  // near the end (the download's tail is shared, file-parts.ts): a few socket buffers, never a part again.
  const lacked = bigSize - before.held;
  const sent = bytesSentFor(mirror, BIG_FILE);
  t.ok(sent >= lacked && sent <= lacked + 1024 * 1024, `fetching the bytes the file lacked: ${sent} for ${lacked}`);
  downloadTotal(t, done.events, 'after the cancels');
});

t.test('two servers on one cache: one writes while the other waits; a kill of the writer is taken over', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-resume-shared-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const blob = blobFile(cacheDir, ref, etag);
  mirror.setThrottle(4_000_000);
  mirror.setLinkThrottle(16_000_000);
  t.teardown(() => {
    mirror.setThrottle(0);
    mirror.setLinkThrottle(0);
  });
  mirror.clearRequests();
  const servers = await Promise.all([serveChild(t, cacheDir), serveChild(t, cacheDir)]);
  const loads = servers.map((server) => loadModel(server.url, BIG).catch(() => undefined));
  // Whichever takes the big file's lock writes it; the other waits. The writer is killed a third of the way.
  const writer = await until('a server to take the lock of the big file', async () => {
    const text = await readFile(blobLockPath(blob), 'utf8').catch(() => undefined);
    const pid = text === undefined || text === '' ? undefined : (JSON.parse(text) as { pid: number }).pid;
    return servers.find((server) => server.child.pid === pid);
  });
  await until('a third of the big file on the disk', async () => (await partialOf(blob, bigSize)).held >= bigSize / 3);
  writer.child.kill('SIGKILL');
  await writer.exited;
  const survivor = servers.find((server) => server !== writer) as (typeof servers)[number];
  const done = await loads[servers.indexOf(survivor)];
  t.equal(done?.events.at(-1)?.status, 'ready', 'the other server takes the stale lock over and loads the model');
  const sent = bytesSentFor(mirror, BIG_FILE);
  t.ok(
    sent >= bigSize && sent <= bigSize + LOSS,
    `${sent} bytes sent for ${bigSize}: what the killed server had written was not fetched again`,
  );
  const file = join(snapshotDir(cacheDir, ref, commit), ...BIG_FILE.split('/'));
  t.equal(sha256(await readFile(file)), sha256(bigBytes), 'the file is whole and right');
});
