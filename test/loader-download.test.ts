import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startMirror, type Mirror } from '../src/mirror/mirror.js';
import { partialDataPath, writeJournal } from '../src/server/fetch/blob-journal.js';
import { blobLockPath, REMOTE_STALE_MS } from '../src/server/fetch/blob-lock.js';
import { downloadBlob } from '../src/server/fetch/downloader.js';
import { createTransfer, type DownloadPolicy } from '../src/server/fetch/transfer.js';
import { createHubClient, type HubClient, type HubFile } from '../src/server/fetch/hub-client.js';
import { LoadError } from '../src/server/loader-types.js';
import {
  blobFile,
  defaultHubCacheDir,
  ensureWritableDir,
  listCachedSnapshots,
  readRef,
  refFile,
  repoDir,
  snapshotDir,
  snapshotListing,
} from '../src/server/fetch/model-cache.js';
import { demoModelsDir } from './helpers/demo.js';
import { bytesSentFor, cacheTree, commitOf, partialOf } from './helpers/hf-cache.js';
import { untracked } from './helpers/untracked.js';

const ID = 'modeldeck/tiny-chat';
const root = await demoModelsDir();
const onnxBytes = await readFile(join(root, 'modeldeck', 'tiny-chat', 'onnx', 'model.onnx'));

// 1 MB: the 1.1 MB ONNX file is an LFS file (verified by sha256), the others are verified by git blob sha1.
const mirror: Mirror = await startMirror({ root, host: '127.0.0.1', port: 0, lfsThreshold: 1_000_000 });
t.teardown(() => mirror.close());
const hub = createHubClient({ hubUrl: mirror.url });
const commit = await commitOf(mirror.url, ID);
const ref = { id: ID, revision: commit };
const listing = await hub.listFiles(ref);
const ONNX = listing.find((f) => f.path === 'onnx/model.onnx') as HubFile;
const CONFIG = listing.find((f) => f.path === 'config.json') as HubFile;
const FAST: DownloadPolicy = { backoffMs: 5, maxBackoffMs: 20, maxAttempts: 3, stallTimeoutMs: 300 };

async function rejection(promise: Promise<unknown>): Promise<LoadError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LoadError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Downloads `file` into a fresh blob path under `dir`, recording the progress it reports. */
async function fetchBlob(
  dir: string,
  file: HubFile = ONNX,
  options: { policy?: DownloadPolicy; client?: HubClient; signal?: AbortSignal } = {},
): Promise<{ blob: string; progress: number[] }> {
  const blob = join(dir, 'blobs', 'the-blob');
  const progress: number[] = [];
  await downloadBlob({
    hub: options.client ?? hub,
    ref,
    file,
    blob,
    transfer: createTransfer({ connections: 4, ...FAST, ...options.policy }),
    signal: options.signal,
    progress: { report: (_path, bytes) => progress.push(bytes) },
  });
  return { blob, progress };
}

t.test('the listing gives each file the digest it is verified against', async (t) => {
  t.match(ONNX, { size: onnxBytes.length, sha256: createHash('sha256').update(onnxBytes).digest('hex') });
  const config = await readFile(join(root, 'modeldeck', 'tiny-chat', 'config.json'));
  const gitSha1 = createHash('sha1').update(`blob ${config.length}\0`).update(config).digest('hex');
  t.match(CONFIG, { size: config.length, oid: gitSha1 });
  t.equal(CONFIG.sha256, undefined, 'not an LFS file');
});

t.test('a download lands complete and verified, in ranged parts, with its progress', async (t) => {
  mirror.clearRequests();
  const dir = t.testdir();
  const { blob, progress } = await fetchBlob(dir);
  t.same(await readFile(blob), onnxBytes, 'same bytes as the hub');
  t.same(await cacheTree(dir), ['blobs/the-blob'], 'no .incomplete left');
  t.equal(progress.at(-1), ONNX.size, 'progress ends at the size');
  t.ok(
    progress.every((p, i) => p <= ONNX.size && p >= (progress[i - 1] ?? 0)),
    'progress never decreases nor passes the size',
  );
  const ranges = mirror.requests.filter((r) => r.url.includes('/resolve/')).map((r) => r.range);
  t.ok(ranges.length >= 2, `fetched in ${ranges.length} parts`);
  t.equal(bytesSentFor(mirror, ONNX.path), ONNX.size, 'each byte once');
  t.same((await fetchBlob(dir)).progress, [ONNX.size], 'a blob that exists is not fetched again');

  const config = await fetchBlob(t.testdir(), CONFIG);
  t.same(await readFile(config.blob), await readFile(join(root, 'modeldeck', 'tiny-chat', 'config.json')));
});

t.test('transient failures in the middle are retried from the bytes received', async (t) => {
  const middle = 600_000;
  const cases = [
    { kind: 'truncate', path: 'onnx/*', bytes: middle, times: 1 },
    { kind: 'reset', path: 'onnx/*', afterBytes: middle, times: 1 },
    { kind: 'stall', path: 'onnx/*', afterBytes: middle, times: 1 },
    { kind: 'status', path: 'onnx/*', status: 503, times: 2 },
    { kind: 'status', path: 'onnx/*', status: 429, times: 1 },
  ] as const;
  for (const fault of cases) {
    mirror.setFaults([fault]);
    mirror.clearRequests();
    const started = performance.now();
    const { blob } = await fetchBlob(t.testdir());
    t.same(await readFile(blob), onnxBytes, `${fault.kind}: the file is whole`);
    t.ok(
      mirror.requests.some((r) => r.fault === fault.kind),
      `${fault.kind}: the fault did hit`,
    );
    const sent = bytesSentFor(mirror, ONNX.path);
    t.ok(sent <= ONNX.size * 1.1, `${fault.kind}: ${sent} bytes on the wire for ${ONNX.size}`);
    if (fault.kind === 'status' && fault.status === 429) {
      t.ok(performance.now() - started >= 950, '429: waited the Retry-After of 1 s');
    }
  }
  mirror.setFaults([]);
});

t.test('a failure that persists gives up after bounded attempts and keeps the partial file', async (t) => {
  const dir = t.testdir();
  mirror.setFaults([{ kind: 'reset', path: 'onnx/*', afterBytes: 200_000 }]);
  mirror.clearRequests();
  const error = await rejection(fetchBlob(dir, ONNX, { policy: { connections: 1 } }));
  t.equal(error.code, 'DOWNLOAD_FAILED');
  t.match(
    error.message,
    /^download of onnx\/model\.onnx was cut off after \d+ of \d+ bytes.*\(gave up after 3 attempts\)/,
  );
  const blob = join(dir, 'blobs', 'the-blob');
  const partial = await partialOf(blob, ONNX.size);
  t.ok(partial.prefix > 0 && partial.prefix <= 200_000, `the bytes before the cut stay (${partial.prefix} bytes)`);
  t.equal(partial.held, partial.prefix, 'and nothing else was fetched');
  t.equal(await stat(blob).catch(() => undefined), undefined, 'no blob');

  mirror.setFaults([]);
  mirror.clearRequests();
  const { progress } = await fetchBlob(dir);
  t.same(await readFile(blob), onnxBytes, 'resumed into the whole file');
  t.equal(progress[0], partial.held, 'progress starts at the bytes on the disk');
  t.equal(bytesSentFor(mirror, ONNX.path), ONNX.size - partial.held, 'only the rest is fetched');

  mirror.setFaults([{ kind: 'status', path: 'onnx/*', status: 503 }]);
  const status = await rejection(fetchBlob(t.testdir()));
  t.equal(status.code, 'HUB_ERROR');
  t.match(status.message, /HTTP 503 .*\(gave up after 3 attempts\); retry later$/);
  mirror.setFaults([{ kind: 'status', path: 'onnx/*', status: 404 }]);
  mirror.clearRequests();
  const missing = await rejection(fetchBlob(t.testdir()));
  t.equal(missing.code, 'HUB_ERROR', 'a 404 is not retried');
  t.match(missing.message, 'although its file list names it');
  mirror.setFaults([]);
});

t.test('a flipped byte is caught by the checksum: fetched again once, then the download fails', async (t) => {
  for (const file of [ONNX, CONFIG]) {
    mirror.setFaults([{ kind: 'flip', path: file.path, afterBytes: Math.floor(file.size / 2), times: 1 }]);
    const { blob } = await fetchBlob(t.testdir(), file);
    t.same(
      await readFile(blob),
      await readFile(join(root, 'modeldeck', 'tiny-chat', ...file.path.split('/'))),
      `${file.path}: once flipped, fetched again, whole`,
    );
    mirror.setFaults([{ kind: 'flip', path: file.path, afterBytes: 7 }]);
    const dir = t.testdir();
    const error = await rejection(fetchBlob(dir, file));
    t.equal(error.code, 'DOWNLOAD_FAILED');
    const algorithm = file === ONNX ? 'sha256' : 'git-sha1';
    t.match(error.message, `download of ${file.path} failed its checksum twice: its ${algorithm} is`);
    t.same(await cacheTree(dir), [], `${file.path}: no blob, no partial file`);
  }
  mirror.setFaults([]);
});

t.test('a hub that ignores Range gets one plain stream', async (t) => {
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Length': onnxBytes.length });
    res.end(onnxBytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const plain = createHubClient({ hubUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const dir = t.testdir();
  // A partial file from before: the hub cannot resume it, so it starts again.
  await mkdir(join(dir, 'blobs'));
  const previous = join(dir, 'blobs', 'the-blob');
  await writeFile(partialDataPath(previous), onnxBytes.subarray(0, 5000));
  await writeJournal(previous, { etag: 'the-blob', size: ONNX.size, written: [[0, 5000]], synced: [[0, 5000]] });
  t.equal((await partialOf(previous, ONNX.size)).held, 5000, 'the partial file is believed');
  const { blob, progress } = await fetchBlob(dir, ONNX, { client: plain });
  t.same(await readFile(blob), onnxBytes);
  t.equal(progress.at(-1), ONNX.size);
  t.same(await cacheTree(dir), ['blobs/the-blob'], 'no partial file or journal left');
});

t.test('a body without Content-Length that ends short is cut off too', async (t) => {
  const server: Server = createServer((req, res) => {
    res.setHeader('Transfer-Encoding', 'chunked');
    res.end('0123456789');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const short = createHubClient({ hubUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const dir = t.testdir();
  const error = await rejection(fetchBlob(dir, { path: 'a.bin', size: 20 }, { client: short }));
  t.equal(error.code, 'DOWNLOAD_FAILED');
  t.match(error.message, 'download of a.bin was cut off after 10 of 20 bytes (gave up after 3 attempts); retry later');
  t.same(
    await cacheTree(dir),
    ['blobs/the-blob.modeldeck.incomplete', 'blobs/the-blob.modeldeck.journal'],
    'the ten bytes stay, as a partial file and its journal',
  );
  t.same((await partialOf(join(dir, 'blobs', 'the-blob'), 20)).spans, [[0, 10]]);

  const wrongSize = await rejection(fetchBlob(t.testdir(), { ...ONNX, size: ONNX.size + 1 }));
  t.equal(wrongSize.code, 'DOWNLOAD_FAILED', 'Content-Range must match the listing');
  t.match(wrongSize.message, `the hub announced ${ONNX.size} bytes for onnx/model.onnx but its file list says`);
});

t.test('a file many times the part size lands whole through positional writes, and verifies', async (t) => {
  // One connection and 1 MiB parts: a 40 MiB file written part by part at its offsets, hashed from the disk.
  const dir = t.testdir();
  const bigRoot = join(dir, 'hub');
  const bytes = createHash('sha256').update('seed').digest();
  const content = Buffer.alloc(40 * 1024 * 1024);
  for (let i = 0; i < content.length; i += bytes.length)
    bytes.copy(content, i, 0, Math.min(bytes.length, content.length - i));
  for (let i = 0; i < content.length; i += 4096) content.writeUInt32LE(i, i);
  await mkdir(join(bigRoot, 'test', 'big'), { recursive: true });
  await writeFile(join(bigRoot, 'test', 'big', 'weights.bin'), content);
  const bigMirror = await startMirror({ root: bigRoot, host: '127.0.0.1', port: 0, lfsThreshold: 1_000_000 });
  t.teardown(() => bigMirror.close());
  const client = createHubClient({ hubUrl: bigMirror.url });
  const bigRef = { id: 'test/big', revision: await commitOf(bigMirror.url, 'test/big') };
  const file = (await client.listFiles(bigRef)).find((f) => f.path === 'weights.bin') as HubFile;
  t.equal(file.sha256, createHash('sha256').update(content).digest('hex'), 'an LFS file, verified by sha256');
  const transfer = createTransfer({ ...FAST, connections: 2, maxPartBytes: 1024 * 1024, stallTimeoutMs: 30_000 });
  const blob = join(dir, 'cache', 'blobs', 'big');
  await downloadBlob({ hub: client, ref: bigRef, file, blob, transfer });
  t.ok((await readFile(blob)).equals(content), 'the blob is the file, byte for byte');
  t.same(await cacheTree(join(dir, 'cache')), ['blobs/big'], 'no partial file or journal left');
  t.equal(transfer.connections.held, 0, 'every connection given back');
  const parts = bigMirror.requests.filter((r) => r.url.includes('/resolve/'));
  t.equal(parts.length, 40, 'in 40 parts of 1 MiB');
});

t.test('aborting a download keeps its partial file', async (t) => {
  mirror.setThrottle(64 * 1024);
  t.teardown(() => mirror.setThrottle(0));
  const dir = t.testdir();
  const controller = new AbortController();
  const download = downloadBlob({
    hub,
    ref,
    file: ONNX,
    blob: join(dir, 'blobs', 'b'),
    transfer: createTransfer({ connections: 1 }),
    signal: controller.signal,
    progress: {
      report: (_path, bytes) => {
        if (bytes > 100_000) controller.abort();
      },
    },
  });
  const error = await rejection(download);
  t.equal(error.code, 'ABORTED');
  t.same(await cacheTree(dir), ['blobs/b.modeldeck.incomplete', 'blobs/b.modeldeck.journal']);
  const { held } = await partialOf(join(dir, 'blobs', 'b'), ONNX.size);
  t.ok(held > 100_000, `every byte received is kept (${held})`);
});

t.test('an unwritable cache directory is named, with the way out', async (t) => {
  const base = t.testdir({ 'a-file': 'not a directory' });
  const dir = join(base, 'a-file', 'cache');
  const error = await rejection(ensureWritableDir(dir));
  t.equal(error.code, 'CACHE_NOT_WRITABLE');
  t.match(error.message, `cannot write the model cache at ${dir} (ENOTDIR)`);
  t.match(error.message, '--cache-dir');
  const download = await rejection(fetchBlob(dir));
  t.equal(download.code, 'CACHE_NOT_WRITABLE', 'the downloader says the same');
});

t.test('the cache: huggingface_hub layout and where it lives', async (t) => {
  const cacheDir = t.testdir();
  const pr = { id: 'org/name', revision: 'refs/pr/1' };
  t.equal(repoDir(cacheDir, pr), join(cacheDir, 'models--org--name'));
  t.equal(refFile(cacheDir, pr), join(cacheDir, 'models--org--name', 'refs', 'refs', 'pr', '1'));
  t.equal(snapshotDir(cacheDir, pr, 'abc'), join(cacheDir, 'models--org--name', 'snapshots', 'abc'));
  t.equal(blobFile(cacheDir, pr, 'e1'), join(cacheDir, 'models--org--name', 'blobs', 'e1'));
  t.equal(repoDir(cacheDir, { id: 'gpt2', revision: 'main' }), join(cacheDir, 'models--gpt2'));
  t.throws(() => repoDir(cacheDir, { id: 'org/..', revision: 'main' }), { code: 'LOAD_FAILED' });
  t.throws(() => refFile(cacheDir, { id: 'org/x', revision: '../x' }), { code: 'LOAD_FAILED' });

  const home = '/home/u';
  t.equal(defaultHubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b', XDG_CACHE_HOME: '/c' }, home), '/a');
  t.equal(defaultHubCacheDir({ HF_HOME: '/b', XDG_CACHE_HOME: '/c' }, home), '/b/hub');
  t.equal(defaultHubCacheDir({ XDG_CACHE_HOME: '/c' }, home), '/c/huggingface/hub');
  t.equal(defaultHubCacheDir({ HF_HOME: '' }, home), '/home/u/.cache/huggingface/hub');

  // As Python leaves it: refs, blobs by etag, relative links; one complete model, one without weights.
  const sha = 'a'.repeat(40);
  const make = async (id: string, files: Record<string, string>): Promise<void> => {
    const repo = repoDir(cacheDir, { id, revision: 'main' });
    await mkdir(join(repo, 'refs'), { recursive: true });
    await writeFile(join(repo, 'refs', 'main'), sha);
    await mkdir(join(repo, 'blobs'), { recursive: true });
    for (const [path, content] of Object.entries(files)) {
      const etag = createHash('sha1').update(path).digest('hex');
      await writeFile(join(repo, 'blobs', etag), content);
      const link = join(repo, 'snapshots', sha, ...path.split('/'));
      await mkdir(join(link, '..'), { recursive: true });
      await symlink(`${'../'.repeat(path.split('/').length + 1)}blobs/${etag}`, link);
    }
  };
  const loadable = {
    'config.json': '{}',
    'tokenizer.json': '{}',
    'tokenizer_config.json': '{}',
    'onnx/model.onnx': 'w',
  };
  await make('org/name', loadable);
  await make('gpt2', loadable);
  await make('org/no-weights', { 'config.json': '{}', 'tokenizer.json': '{}', 'tokenizer_config.json': '{}' });
  await mkdir(join(cacheDir, 'not-a-repo'));
  t.equal(await readRef(cacheDir, { id: 'org/name', revision: 'main' }), sha);
  t.equal(await readRef(cacheDir, { id: 'org/name', revision: sha }), sha, 'a commit names itself');
  t.equal(await readRef(cacheDir, { id: 'org/name', revision: 'v2' }), undefined);
  t.same(
    (await snapshotListing(snapshotDir(cacheDir, { id: 'org/name', revision: 'main' }, sha))).files.map((f) => f.path),
    ['config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json'],
    'a snapshot lists its files through the links',
  );
  t.same(
    (await listCachedSnapshots(cacheDir)).map((r) => r.key),
    ['gpt2@main', 'org/name@main'],
    'loadable snapshots only, one-segment ids too',
  );
  t.same(await listCachedSnapshots(join(cacheDir, 'nowhere')), [], 'no cache yet: nothing');
});

t.test('a blob another process is writing is waited for, and taken over once that process is gone', async (t) => {
  const blob = join(t.testdir(), 'models--modeldeck--tiny-chat', 'blobs', 'etag-1');
  const lock = blobLockPath(blob);
  t.match(lock, /\.locks\/models--modeldeck--tiny-chat\/etag-1\.modeldeck\.lock$/, "beside huggingface_hub's locks");
  const holder = spawn(...untracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)']), { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  await mkdir(dirname(lock), { recursive: true });
  await writeFile(lock, JSON.stringify({ pid: holder.pid, host: hostname() }));

  // Held by a live process: an abort while waiting is ABORTED and leaves the other's lock alone.
  const controller = new AbortController();
  const aborted = downloadBlob({
    hub,
    ref,
    file: ONNX,
    blob,
    transfer: createTransfer(FAST),
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(), 300);
  t.equal((await rejection(aborted)).code, 'ABORTED');
  t.ok(await stat(lock), "the other process's lock stays");

  mirror.clearRequests();
  let done = false;
  const waiting = fetchLocked(blob).then(() => (done = true));
  await sleep(600);
  t.notOk(done, 'still waiting while the holder lives');
  t.equal(bytesSentFor(mirror, ONNX.path), 0, 'and nothing fetched meanwhile');
  holder.kill('SIGKILL');
  await waiting;
  t.same(await readFile(blob), onnxBytes, 'taken over once the holder died, and complete');
  await t.rejects(stat(lock), { code: 'ENOENT' }, 'its own lock released');
});

t.test('a lock left by a dead process, or half-written, is stale; a held one on another host is not', async (t) => {
  const dead = spawn(...untracked(process.execPath, ['-e', '0']), { stdio: 'ignore' });
  await new Promise((resolve) => dead.once('exit', resolve));
  const blob = join(t.testdir(), 'models--modeldeck--tiny-chat', 'blobs', 'etag-2');
  await mkdir(dirname(blobLockPath(blob)), { recursive: true });
  await writeFile(blobLockPath(blob), JSON.stringify({ pid: dead.pid, host: hostname() }));
  await fetchLocked(blob);
  t.same(await readFile(blob), onnxBytes, 'a dead owner: taken at once');

  const garbled = join(t.testdir(), 'models--modeldeck--tiny-chat', 'blobs', 'etag-3');
  await mkdir(dirname(blobLockPath(garbled)), { recursive: true });
  await writeFile(blobLockPath(garbled), '{"pid": 12');
  await fetchLocked(garbled);
  t.same(await readFile(garbled), onnxBytes, 'a half-written lock: taken');

  const remote = join(t.testdir(), 'models--modeldeck--tiny-chat', 'blobs', 'etag-4');
  await mkdir(dirname(blobLockPath(remote)), { recursive: true });
  await writeFile(blobLockPath(remote), JSON.stringify({ pid: 1, host: `not-${hostname()}` }));
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 500);
  const error = await rejection(
    downloadBlob({ hub, ref, file: ONNX, blob: remote, transfer: createTransfer(FAST), signal: controller.signal }),
  );
  t.equal(error.code, 'ABORTED', "another host's lock is honoured: its process cannot be checked from here");
  // ... until neither the lock nor the partial file changed for REMOTE_STALE_MS: its writer is gone or stuck.
  const old = (Date.now() - REMOTE_STALE_MS - 60_000) / 1000;
  await utimes(blobLockPath(remote), old, old);
  await fetchLocked(remote);
  t.same(await readFile(remote), onnxBytes, 'an untouched lock of another host: taken over');
});

function fetchLocked(blob: string): Promise<void> {
  return downloadBlob({ hub, ref, file: ONNX, blob, transfer: createTransfer({ connections: 4, ...FAST }) });
}
