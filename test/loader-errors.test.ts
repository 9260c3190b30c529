import { cp, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { LoaderEvent } from '../src/server/loader-types.js';
import { blobFile, snapshotDir } from '../src/server/fetch/model-cache.js';
import { createTransformersLoader } from '../src/server/transformers-loader.js';
import { cacheTree, commitOf, fileGets, partialOf } from './helpers/hf-cache.js';
import { assertProgress, refOf, stages, startLoaderStack } from './helpers/loader.js';

const TINY = refOf('modeldeck/tiny-chat');
const GATED = refOf('test/gated-chat');
const TOKEN = 'hf_modeldeck_test';

// The mirror's root: tiny-chat as generated, a gated copy, a copy with a broken ONNX file, and a repository without
// ONNX weights.
const { tinyDir, mirror, cacheDir, load, loadError } = await startLoaderStack(
  t,
  async (root, tinyDir) => {
    await cp(tinyDir, join(root, 'test', 'gated-chat'), { recursive: true });
    await cp(tinyDir, join(root, 'test', 'pytorch-only'), { recursive: true });
    await rm(join(root, 'test', 'pytorch-only', 'onnx'), { recursive: true });
    await writeFile(join(root, 'test', 'pytorch-only', 'model.safetensors'), 'weights');
    await cp(tinyDir, join(root, 'test', 'corrupt-chat'), { recursive: true });
    await writeFile(join(root, 'test', 'corrupt-chat', 'onnx', 'model.onnx'), 'this is not an ONNX model');
  },
  { requireToken: { token: TOKEN, repos: ['test/gated-*'] } },
);

const tree = cacheTree;

const onnxSize = (await stat(join(tinyDir, 'onnx', 'model.onnx'))).size;

t.test('load failures carry codes and messages that say what to do', async (t) => {
  const loader = createTransformersLoader({ hubUrl: mirror.url, cacheDir });

  const unknown = await loadError(loader, refOf('test/no-such-model'));
  t.equal(unknown.error.code, 'MODEL_NOT_FOUND');
  t.equal(unknown.error.message, `model test/no-such-model was not found on the hub at ${mirror.url}; check the id`);
  t.same(stages(unknown.events), ['processor'], 'fails during the processor stage');
  t.same(await tree(cacheDir), [], 'and leaves nothing behind');

  t.equal((await loadError(loader, refOf(TINY.id, 'no-such-branch'))).error.code, 'REVISION_NOT_FOUND');

  const noOnnx = await loadError(loader, refOf('test/pytorch-only'));
  t.equal(noOnnx.error.code, 'NO_ONNX_WEIGHTS');
  t.equal(
    noOnnx.error.message,
    'test/pytorch-only has no ONNX weights for transformers.js; ' +
      'look for an onnx-community/… variant on the Hub (https://huggingface.co/onnx-community)',
  );

  const corrupt = await loadError(loader, refOf('test/corrupt-chat'));
  t.equal(corrupt.error.code, 'LOAD_FAILED');
  t.match(corrupt.error.message, /^transformers\.js could not load test\/corrupt-chat@main: /);
  t.same(stages(corrupt.events), ['processor', 'config', 'download', 'weights'], 'fails while building the session');

  const gated = await loadError(loader, GATED);
  t.equal(gated.error.code, 'UNAUTHORIZED');
  t.match(gated.error.message, 'test/gated-chat is gated on the hub at');
  t.match(gated.error.message, 'no token was sent: set HF_TOKEN');
  mirror.clearRequests();
  await load(createTransformersLoader({ hubUrl: mirror.url, cacheDir, token: TOKEN }), GATED);
  t.ok(
    mirror.requests.every((r) => r.status === 200 || r.status === 206),
    'with HF_TOKEN every request of a gated model succeeds',
  );

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const unreachable = await loadError(
    createTransformersLoader({ hubUrl: deadUrl, cacheDir }),
    refOf('test/not-cached'),
  );
  t.equal(unreachable.error.code, 'HUB_UNREACHABLE');
  t.match(unreachable.error.message, `cannot reach the hub at ${deadUrl} (ECONNREFUSED)`);
  t.match(unreachable.error.message, '--offline');

  const offline = await loadError(
    createTransformersLoader({ hubUrl: mirror.url, cacheDir, offline: true }),
    refOf('test/not-cached'),
  );
  t.equal(offline.error.code, 'OFFLINE_NOT_CACHED');
  t.match(offline.error.message, `test/not-cached@main is not in the cache at ${cacheDir}`);

  const unwritableBase = t.testdir({ file: 'x' });
  const unwritable = await loadError(
    createTransformersLoader({ hubUrl: mirror.url, cacheDir: join(unwritableBase, 'file') }),
    TINY,
  );
  t.equal(unwritable.error.code, 'CACHE_NOT_WRITABLE');
  t.match(unwritable.error.message, join(unwritableBase, 'file'));
  t.match(unwritable.error.message, '--cache-dir');
});

t.test(
  'a cut that persists fails the load after bounded attempts; the partial file stays and the next load resumes',
  async (t) => {
    const fresh = await mkdtemp(join(tmpdir(), 'modeldeck-loader-cut-'));
    t.teardown(() => rm(fresh, { recursive: true, force: true }));
    const loader = createTransformersLoader({
      hubUrl: mirror.url,
      cacheDir: fresh,
      download: { backoffMs: 5, maxAttempts: 3 },
    });
    const commit = await commitOf(mirror.url, TINY.id);
    const dir = snapshotDir(fresh, TINY, commit);
    const onnxEtag = (
      (await (await fetch(`${mirror.url}/api/models/${TINY.id}/tree/main?recursive=true`)).json()) as {
        path: string;
        oid: string;
        lfs?: { oid: string };
      }[]
    ).find((e) => e.path === 'onnx/model.onnx');
    const blob = blobFile(fresh, TINY, onnxEtag?.lfs?.oid ?? onnxEtag?.oid ?? '');
    for (const fault of [
      { kind: 'truncate', path: 'onnx/model.onnx', bytes: 300_000 },
      { kind: 'reset', path: 'onnx/model.onnx', afterBytes: 300_000 },
    ] as const) {
      mirror.setFaults([fault]);
      const { error, events } = await loadError(loader, TINY);
      t.equal(error.code, 'DOWNLOAD_FAILED', `${fault.kind}: DOWNLOAD_FAILED`);
      t.match(
        error.message,
        /^download of onnx\/model\.onnx was cut off after \d+ of \d+ bytes.* \(gave up after 3 attempts\); retry later$/,
      );
      t.same(stages(events), ['processor', 'config', 'download'], `${fault.kind}: fails in the download stage`);
      t.notOk((await tree(dir)).includes('onnx/model.onnx'), `${fault.kind}: no ONNX file in the snapshot`);
      t.equal(await stat(blob).catch(() => undefined), undefined, `${fault.kind}: no blob`);
      const partial = await partialOf(blob, onnxSize);
      t.ok(
        partial.prefix > 0 && partial.prefix <= 300_000,
        `${fault.kind}: the bytes before the cut kept (${partial.prefix})`,
      );
      t.same(await loader.listCached(), [], `${fault.kind}: not listed as cached`);
    }
    mirror.setFaults([]);
    mirror.clearRequests();
    const { held: have, prefix } = await partialOf(blob, onnxSize);
    const retry = await load(loader, TINY);
    t.same(stages(retry.events), ['processor', 'config', 'download', 'weights'], 'the retry loads');
    const refetched = fileGets(mirror);
    t.same(
      [...new Set(refetched.map((g) => g.path))],
      ['onnx/model.onnx'],
      'files completed before are not fetched again',
    );
    t.match(refetched[0]?.range, new RegExp(`^bytes=${prefix}-`), 'it resumes from the bytes on the disk');
    t.equal(
      refetched.reduce((sum, g) => sum + g.bytes, 0),
      onnxSize - have,
      'and fetches only the holes',
    );
    assertProgress(t, retry.events, 'download', onnxSize - have);
    await retry.model.dispose();
  },
);

t.test('aborting a load stops it with ABORTED', async (t) => {
  const fresh = await mkdtemp(join(tmpdir(), 'modeldeck-loader-abort-'));
  t.teardown(() => rm(fresh, { recursive: true, force: true }));
  mirror.setThrottle(100_000);
  t.teardown(() => mirror.setThrottle(0));
  const controller = new AbortController();
  const events: LoaderEvent[] = [];
  const loading = createTransformersLoader({ hubUrl: mirror.url, cacheDir: fresh }).load(
    TINY,
    (e) => {
      events.push(e);
      if (e.type === 'progress' && e.current > 0) controller.abort();
    },
    controller.signal,
  );
  await t.rejects(loading, { code: 'ABORTED' });
  t.same(stages(events), ['processor', 'config', 'download']);
  const left = await tree(snapshotDir(fresh, TINY, await commitOf(mirror.url, TINY.id)));
  t.notOk(
    left.some((f) => f.startsWith('onnx/')),
    'nothing of the weights in the snapshot',
  );

  // Aborted while the worker builds the ONNX session: the load stops, after the native call has returned.
  mirror.setThrottle(0);
  const late = new AbortController();
  const lateEvents: LoaderEvent[] = [];
  const lateLoad = createTransformersLoader({ hubUrl: mirror.url, cacheDir: fresh }).load(
    TINY,
    (e) => {
      lateEvents.push(e);
      if (e.type === 'progress' && e.stage === 'weights' && e.current === e.total - 1) late.abort();
    },
    late.signal,
  );
  await t.rejects(lateLoad, { code: 'ABORTED' });
  t.same(stages(lateEvents), ['processor', 'config', 'download', 'weights'], 'aborted in the weights stage');
});
