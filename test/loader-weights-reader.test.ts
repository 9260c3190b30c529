import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { WEIGHTS_BLOCK_BYTES, weightItems } from '../src/server/text-tools.js';
import { readThroughWeights, type WeightFile } from '../src/server/weights-reader.js';

/** A snapshot directory holding `onnx/model.onnx` (10 bytes) and `onnx/model.onnx_data` (2.5 blocks). */
async function snapshot(t: Test): Promise<{ dir: string; files: WeightFile[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-weights-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'onnx'));
  const files = [
    { path: 'onnx/model.onnx', size: 10 },
    { path: 'onnx/model.onnx_data', size: Math.floor(2.5 * WEIGHTS_BLOCK_BYTES) },
  ];
  for (const file of files) await writeFile(join(dir, file.path), Buffer.alloc(file.size, 7));
  return { dir, files };
}

t.test('one call per block of every file: the items weightItems counts, less the session', async (t) => {
  const { dir, files } = await snapshot(t);
  let blocks = 0;
  await readThroughWeights(dir, files, () => (blocks += 1));
  t.equal(blocks, 1 + 3, 'a 10-byte file is one block, 2.5 MiB are three');
  t.equal(blocks, weightItems(files.map((file) => file.size)) - 1);
});

t.test('a file shorter than its size fails, naming it and the fix', async (t) => {
  const { dir, files } = await snapshot(t);
  const longer = files.map((file) => (file.path.endsWith('_data') ? { ...file, size: file.size + 1 } : file));
  let blocks = 0;
  await t.rejects(
    readThroughWeights(dir, longer, () => (blocks += 1)),
    /onnx\/model\.onnx_data is shorter than its 2621441 bytes; delete its cache entry and retry/,
  );
  t.equal(blocks, 1 + 2, 'the blocks before the missing byte were counted');
});

t.test('a missing file fails', async (t) => {
  const { dir, files } = await snapshot(t);
  await rm(join(dir, 'onnx', 'model.onnx_data'));
  await t.rejects(
    readThroughWeights(dir, files, () => {}),
    { code: 'ENOENT' },
  );
});

t.test('an aborted read stops at the next block and resolves (the load reports the abort)', async (t) => {
  const { dir, files } = await snapshot(t);
  const controller = new AbortController();
  let blocks = 0;
  await readThroughWeights(
    dir,
    files,
    () => {
      blocks += 1;
      if (blocks === 2) controller.abort();
    },
    controller.signal,
  );
  t.equal(blocks, 2, 'nothing was read after the abort');
});
