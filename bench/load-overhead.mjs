/**
 * Benchmark 2, load overhead: `/load_model` of a model already in the disk cache (laid out by hand as huggingface_hub
 * lays it out, so no modeldeck code wrote it), from the request to `ready`, versus
 * the same load done directly with transformers.js (`lib/direct-worker.mjs`: a worker thread spawned, the library
 * imported, tokenizer and model loaded from the same snapshot). Target: at most 1.05 of direct.
 *
 * The server runs offline in this process; the model is unloaded (`POST /unload_model`) after each repetition, so
 * every load spawns a new worker, as the direct baseline does. One untimed warm-up of each comes first (the first
 * import of ONNX Runtime pays for the page cache), and the order alternates.
 */

import {
  BIG_MODEL,
  TINY_MODEL,
  benchArgs,
  demoModelsDir,
  expectReady,
  figure,
  loadModel,
  log,
  median,
  monoMs,
  pairedRatio,
  postJson,
  preparePythonCache,
  report,
  startDirectWorker,
  startOfflineServer,
  tempDir,
} from './lib/common.mjs';

const { smoke } = benchArgs();
const model = smoke ? TINY_MODEL : BIG_MODEL;
// 25: single runs of 15 swung by ±0.05 on a quiet host, as wide as the target's margin.
const repetitions = smoke ? 1 : 25;

const models = await demoModelsDir([model]);
const cache = await tempDir('load-cache');
try {
  await preparePythonCache(models, cache.path, model);
  const server = await startOfflineServer(cache.path);
  try {
    const viaServer = async () => {
      const started = monoMs();
      const transcript = expectReady(await loadModel(server.url, model), 'load overhead');
      const ms = transcript.times.at(-1) - started;
      if (transcript.events.at(-1).cached !== false) throw new Error('the model was still resident');
      const unloaded = await postJson(`${server.url}/unload_model`, { model });
      if (unloaded.status !== 200) throw new Error(`unload: ${JSON.stringify(unloaded)}`);
      return ms;
    };
    const direct = async () => {
      const worker = await startDirectWorker({ cacheDir: cache.path, model });
      await worker.close();
      return worker.loadMs;
    };
    await viaServer();
    await direct();
    const serverMs = [];
    const directMs = [];
    for (let rep = 0; rep < repetitions; rep += 1) {
      if (rep % 2 === 0) {
        serverMs.push(await viaServer());
        directMs.push(await direct());
      } else {
        directMs.push(await direct());
        serverMs.push(await viaServer());
      }
      log(
        `load rep ${rep + 1}/${repetitions}: server ${serverMs.at(-1).toFixed(0)} ms, direct ${directMs.at(-1).toFixed(0)} ms`,
      );
    }
    await report({
      id: 'load-overhead',
      title: 'Load overhead (cached model)',
      repetitions,
      figures: [
        figure('/load_model to ready, from a cache Python laid out', median(serverMs), 'ms', {
          baseline: median(directMs),
          baselineLabel: 'transformers.js direct, in a worker',
          ratio: pairedRatio(serverMs, directMs),
          op: '<=',
          target: 1.05,
          samples: serverMs,
        }),
      ],
      notes: [
        `${model} from a snapshot laid out by hand as huggingface_hub lays it out (refs/main, blobs by etag, relative ` +
          'links); server offline, in this process; unloaded after each load.',
        'Direct: new Worker → import @huggingface/transformers → AutoTokenizer + AutoModelForCausalLM.from_pretrained ' +
          'on the same snapshot directory with the same dtype and external-data option.',
        'Ratio: the median of the per-repetition ratios (each repetition loads both ways, back to back).',
        `Direct samples (ms): ${directMs.map((ms) => ms.toFixed(0)).join(', ')}.`,
      ],
    });
  } finally {
    await server.close();
  }
} finally {
  await cache.cleanup();
}
