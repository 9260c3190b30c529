import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { startMirror, type Mirror } from '../src/mirror/mirror.js';
import { downloadFile } from '../src/server/downloader.js';
import { createHubClient, type HubFile } from '../src/server/hub-client.js';
import { LoadError } from '../src/server/loader-types.js';
import {
  ensureWritableDir,
  listCachedSnapshots,
  MANIFEST_FILE,
  readCompleteSnapshot,
  snapshotDir,
  writeManifest,
  type SnapshotManifest,
} from '../src/server/model-cache.js';
import { demoModelsDir } from './helpers/demo.js';

const ref = { id: 'modeldeck/tiny-chat', revision: 'main' };
const root = await demoModelsDir();
const onnxBytes = await readFile(join(root, 'modeldeck', 'tiny-chat', 'onnx', 'model.onnx'));
const ONNX: HubFile = { path: 'onnx/model.onnx', size: onnxBytes.length };

const mirror: Mirror = await startMirror({ root, host: '127.0.0.1', port: 0 });
t.teardown(() => mirror.close());
const hub = createHubClient({ hubUrl: mirror.url });

async function rejection(promise: Promise<unknown>): Promise<LoadError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LoadError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Every file below `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

t.test('a download lands complete, with the byte count reported', async (t) => {
  const dir = t.testdir();
  let reported = 0;
  const result = await downloadFile({ hub, ref, file: ONNX, dir, onBytes: (n) => (reported += n) });
  t.same(await readFile(join(dir, 'onnx', 'model.onnx')), onnxBytes, 'same bytes as the hub');
  t.equal(reported, ONNX.size, 'onBytes adds up to the file size');
  t.match(result.commit, /^[0-9a-f]{40}$/, 'the commit from X-Repo-Commit');
  t.same(await tree(dir), ['onnx/model.onnx'], 'no temporary file left');
});

t.test('failed downloads leave nothing that looks complete', async (t) => {
  const cutOff = new RegExp(`^download of onnx/model.onnx was cut off after \\d+ of ${ONNX.size} bytes.*; retry$`);
  const cases = [
    {
      name: 'truncated (FIN before Content-Length)',
      fault: { kind: 'truncate', path: 'onnx/*', bytes: 500_000 },
      message: cutOff,
    },
    { name: 'connection reset', fault: { kind: 'reset', path: 'onnx/*', afterBytes: 70_000 }, message: cutOff },
    {
      name: 'stalled',
      fault: { kind: 'stall', path: 'onnx/*', afterBytes: 100 },
      message: `download of onnx/model.onnx stalled: no data for 300 ms after 100 of ${ONNX.size} bytes; retry`,
    },
  ] as const;
  for (const c of cases) {
    mirror.setFaults([c.fault]);
    const dir = t.testdir();
    const error = await rejection(downloadFile({ hub, ref, file: ONNX, dir, stallTimeoutMs: 300 }));
    t.equal(error.code, 'DOWNLOAD_FAILED', `${c.name}: DOWNLOAD_FAILED`);
    t.match(error.message, c.message, `${c.name}: says what happened`);
    // Bytes the client got before the cut (undici may drop what it buffered when the socket fails).
    const got = Number(/after (\d+) of/.exec(error.message)?.[1]);
    t.ok(got < ONNX.size, `${c.name}: reports fewer bytes than the file has (${got})`);
    t.same(await tree(dir), [], `${c.name}: no file, no temporary file`);
  }
  mirror.setFaults([{ kind: 'status', path: 'onnx/*', status: 503 }]);
  const status = await rejection(downloadFile({ hub, ref, file: ONNX, dir: t.testdir() }));
  t.equal(status.code, 'HUB_ERROR');
  t.match(status.message, 'HTTP 503');
  mirror.setFaults([]);

  const wrongSize = await rejection(
    downloadFile({ hub, ref, file: { ...ONNX, size: ONNX.size + 1 }, dir: t.testdir() }),
  );
  t.equal(wrongSize.code, 'DOWNLOAD_FAILED', 'Content-Length must match the listing');
  t.match(
    wrongSize.message,
    `the hub announced ${ONNX.size} bytes for onnx/model.onnx but its file list says ${ONNX.size + 1}`,
  );
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
  const error = await rejection(downloadFile({ hub: short, ref, file: { path: 'a.bin', size: 20 }, dir }));
  t.equal(error.code, 'DOWNLOAD_FAILED');
  t.match(error.message, 'download of a.bin was cut off after 10 of 20 bytes; retry');
  t.same(await tree(dir), []);
});

t.test('aborting a download deletes its temporary file', async (t) => {
  mirror.setThrottle(64 * 1024);
  t.teardown(() => mirror.setThrottle(0));
  const dir = t.testdir();
  const controller = new AbortController();
  const download = downloadFile({
    hub,
    ref,
    file: ONNX,
    dir,
    signal: controller.signal,
    onBytes: () => controller.abort(),
  });
  const error = await rejection(download);
  t.equal(error.code, 'ABORTED');
  t.same(await tree(dir), []);
});

t.test('an unwritable cache directory is named, with the way out', async (t) => {
  const base = t.testdir({ 'a-file': 'not a directory' });
  const dir = join(base, 'a-file', 'cache');
  const error = await rejection(ensureWritableDir(dir));
  t.equal(error.code, 'CACHE_NOT_WRITABLE');
  t.match(error.message, `cannot write the model cache at ${dir} (ENOTDIR)`);
  t.match(error.message, '--cache-dir');
  const download = await rejection(downloadFile({ hub, ref, file: ONNX, dir }));
  t.equal(download.code, 'CACHE_NOT_WRITABLE', 'the downloader says the same');
});

t.test('the cache: layout, complete snapshots only, listing', async (t) => {
  const cacheDir = t.testdir();
  t.equal(
    snapshotDir(cacheDir, { id: 'org/name', revision: 'refs/pr/1' }),
    join(cacheDir, 'models', 'org', 'name', 'refs--pr--1'),
  );
  t.equal(snapshotDir(cacheDir, { id: 'gpt2', revision: 'main' }), join(cacheDir, 'models', 'gpt2', 'main'));
  t.throws(() => snapshotDir(cacheDir, { id: 'org/..', revision: 'main' }), { code: 'LOAD_FAILED' });

  const write = async (id: string, revision: string, files: Record<string, string>): Promise<SnapshotManifest> => {
    const dir = snapshotDir(cacheDir, { id, revision });
    await mkdir(join(dir, 'onnx'), { recursive: true });
    for (const [path, content] of Object.entries(files)) await writeFile(join(dir, path), content);
    const manifest: SnapshotManifest = {
      version: 1,
      id,
      revision,
      dtype: 'fp32',
      externalDataChunks: 0,
      files: Object.entries(files).map(([path, content]) => ({ path, size: content.length })),
      weightFiles: ['onnx/model.onnx'],
      completedAt: new Date(0).toISOString(),
    };
    await writeManifest(dir, manifest);
    return manifest;
  };
  const files = { 'config.json': '{}', 'onnx/model.onnx': 'weights' };
  const complete = await write('org/name', 'refs/pr/1', files);
  await write('gpt2', 'main', files);
  await write('org/damaged', 'main', files);
  await writeFile(join(snapshotDir(cacheDir, { id: 'org/damaged', revision: 'main' }), 'onnx', 'model.onnx'), 'short');
  // A partial snapshot: files but no manifest yet.
  await mkdir(snapshotDir(cacheDir, { id: 'org/partial', revision: 'main' }), { recursive: true });
  await writeFile(join(snapshotDir(cacheDir, { id: 'org/partial', revision: 'main' }), 'config.json'), '{}');

  t.same(await readCompleteSnapshot(cacheDir, { id: 'org/name', revision: 'refs/pr/1' }), complete);
  t.equal(
    await readCompleteSnapshot(cacheDir, { id: 'org/damaged', revision: 'main' }),
    undefined,
    'a file of the wrong size',
  );
  t.equal(await readCompleteSnapshot(cacheDir, { id: 'org/partial', revision: 'main' }), undefined, 'no manifest');
  t.same(
    (await listCachedSnapshots(cacheDir)).map((r) => r.key),
    ['gpt2@main', 'org/name@refs/pr/1'],
    'complete snapshots only, legacy ids too',
  );
  const gpt2Files = await tree(snapshotDir(cacheDir, { id: 'gpt2', revision: 'main' }));
  t.same(gpt2Files, [MANIFEST_FILE, 'config.json', 'onnx/model.onnx'].sort(), 'no temporary manifest left');
  t.same(await listCachedSnapshots(join(cacheDir, 'nowhere')), [], 'no cache yet: nothing');
  t.ok((await stat(join(cacheDir, 'models'))).isDirectory());
});
