import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startMirror } from '../src/mirror/mirror.js';
import type { LoaderEvent, ModelRef } from '../src/server/loader-types.js';
import { snapshotDir } from '../src/server/fetch/model-cache.js';
import { cacheTree, commitOf } from './helpers/hf-cache.js';
import { weightItems } from '../src/server/text-tools.js';
import { createTransformersLoader } from '../src/server/transformers-loader.js';
import { demoModelsDir } from './helpers/demo.js';

// The one test with the ~100 MB demo model: its weights live in onnx/model.onnx_data (external data).
const ref: ModelRef = { id: 'modeldeck/chat-100m', revision: 'main', key: 'modeldeck/chat-100m@main' };
const root = await demoModelsDir([ref.id]);
const repo = join(root, ...ref.id.split('/'));
const sizes = await Promise.all(
  ['onnx/model.onnx', 'onnx/model.onnx_data'].map(async (f) => (await stat(join(repo, f))).size),
);
const mirror = await startMirror({ root, host: '127.0.0.1', port: 0 });
const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-loader-100m-'));
t.teardown(async () => {
  await mirror.close();
  await rm(cacheDir, { recursive: true, force: true });
});

t.test('a model with external data downloads both files and loads them as one session', async (t) => {
  const events: LoaderEvent[] = [];
  const model = await createTransformersLoader({ hubUrl: mirror.url, cacheDir }).load(ref, (e) => events.push(e));
  t.teardown(() => model.dispose());
  const progress = (stage: string) => events.flatMap((e) => (e.type === 'progress' && e.stage === stage ? [e] : []));
  const download = progress('download');
  const total = (sizes[0] ?? 0) + (sizes[1] ?? 0);
  t.ok(
    download.every((e) => e.total === total),
    `download total fixed at both files' bytes (${total})`,
  );
  t.equal(download.at(-1)?.current, total);
  t.ok(
    download.every((e, i) => i === 0 || e.current >= (download[i - 1]?.current ?? 0)),
    'download never decreases',
  );
  const weights = progress('weights');
  t.ok(
    weights.every((e) => e.total === weightItems(sizes)),
    `weights total: ${weightItems(sizes)} items`,
  );
  t.equal(weights.length, weightItems(sizes) + 1, 'one event per item, after a 0 of total');
  t.same(
    weights.map((e) => e.current),
    [...Array(weightItems(sizes) + 1).keys()],
    'items complete one by one',
  );
  const snapshot = snapshotDir(cacheDir, ref, await commitOf(mirror.url, ref.id));
  const files = await cacheTree(snapshot);
  t.ok(
    files.includes('onnx/model.onnx') && files.includes('onnx/model.onnx_data'),
    'the ONNX file and its external data are in the snapshot',
  );
  const pieces: string[] = [];
  const result = await model.generate([{ role: 'user', content: 'Hello' }], { maxTokens: 20, seed: 1 }, (p) =>
    pieces.push(p),
  );
  t.ok(result.completionTokens > 0 && pieces.join('').length > 0, 'it generates');
});
