/**
 * Benchmark 3, responsiveness during a load: `GET /health` latency, measured from another process, while the ~100 MB
 * model's weights load (from the first `weights` event to `ready`), next to the latency with no load running (idle
 * windows of the same length before each load). Target: p99 under 50 ms during the weights stage.
 *
 * The server runs offline in this process on a cache that already holds the model, and unloads it after each load.
 */

import {
  BIG_MODEL,
  TINY_MODEL,
  benchArgs,
  demoModelsDir,
  expectReady,
  figure,
  forkHelper,
  loadModel,
  log,
  monoMs,
  percentile,
  postJson,
  prepareCache,
  report,
  sleep,
  startOfflineServer,
  tempDir,
} from './lib/common.mjs';

const { smoke } = benchArgs();
const model = smoke ? TINY_MODEL : BIG_MODEL;
const repetitions = smoke ? 3 : 10;
/** Pause between two probes, in ms. */
const GAP_MS = 2;

const models = await demoModelsDir([model]);
const cache = await tempDir('health-cache');
const prober = forkHelper('health-prober.mjs');
try {
  await prepareCache(models, cache.path, model);
  const server = await startOfflineServer(cache.path);
  try {
    // One untimed load: the first import of ONNX Runtime reads it from disk.
    expectReady(await loadModel(server.url, model), 'warm-up');
    await postJson(`${server.url}/unload_model`, { model });

    await prober.request({ type: 'start', url: server.url, gapMs: GAP_MS });
    await sleep(300);
    const idle = [];
    const weights = [];
    const whole = [];
    for (let rep = 0; rep < repetitions; rep += 1) {
      const loadStart = monoMs();
      let weightsStart;
      const transcript = expectReady(
        await loadModel(server.url, model, {
          onEvent: (event, at) => {
            if (event.status === 'loading' && event.stage === 'weights') weightsStart ??= at;
          },
        }),
        'responsiveness',
      );
      const loadEnd = transcript.times.at(-1);
      if (weightsStart === undefined) throw new Error('no weights stage');
      weights.push([weightsStart, loadEnd]);
      whole.push([loadStart, loadEnd]);
      await postJson(`${server.url}/unload_model`, { model });
      // Let the worker's teardown finish, then an idle window as long as the load was.
      await sleep(200);
      const idleStart = monoMs();
      await sleep(Math.max(300, loadEnd - loadStart));
      idle.push([idleStart, monoMs()]);
      log(`health rep ${rep + 1}/${repetitions}: weights stage ${(loadEnd - weightsStart).toFixed(0)} ms`);
    }
    const { samples } = await prober.request({ type: 'stop' });
    // A request counts for a window when it was in flight during it (it started before the window's end and
    // finished after its start): a request the stage held up is exactly what this measures.
    const within = (windows) =>
      samples.filter(([at, ms]) => windows.some(([from, to]) => at <= to && at + ms >= from)).map(([, ms]) => ms);
    const idleMs = within(idle);
    const weightsMs = within(weights);
    const wholeMs = within(whole);
    if (idleMs.length === 0 || weightsMs.length === 0) throw new Error('no /health samples in a window');
    const p99Weights = percentile(weightsMs, 99);
    await report({
      id: 'responsiveness',
      title: 'Responsiveness during a load',
      repetitions,
      figures: [
        figure('GET /health p99, weights loading', p99Weights, 'ms', {
          baseline: percentile(idleMs, 99),
          baselineLabel: 'p99 with no load',
          op: '<=',
          target: 50,
          targetOn: 'value',
        }),
        figure('GET /health p50, weights loading', percentile(weightsMs, 50), 'ms', {
          baseline: percentile(idleMs, 50),
          baselineLabel: 'p50 with no load',
        }),
        figure('GET /health max, weights loading', Math.max(...weightsMs), 'ms', {
          baseline: Math.max(...idleMs),
          baselineLabel: 'max with no load',
        }),
        figure('GET /health p99, whole load', percentile(wholeMs, 99), 'ms', {
          baseline: percentile(idleMs, 99),
          baselineLabel: 'p99 with no load',
        }),
      ],
      notes: [
        `${model}, cached on disk; ${weightsMs.length} samples while weights loaded, ${idleMs.length} idle, ` +
          `${wholeMs.length} over whole loads (${repetitions} loads).`,
        `Prober: its own process, one keep-alive connection, one request at a time, ${GAP_MS} ms apart. ` +
          'Percentiles pool the samples of all repetitions.',
      ],
    });
  } finally {
    await server.close();
  }
} finally {
  await prober.close();
  await cache.cleanup();
}
