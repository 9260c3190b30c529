/**
 * Benchmark 7, a burst of loads (issue 14): `GET /health` latency, measured from another process, while 60 different
 * models load at once from the disk cache (copies of the tiny demo model under 60 names), next to the latency with no
 * load running (an idle window as long as the burst, before it). Target: p99 under 50 ms during the burst.
 *
 * The server runs offline in this process on a cache that already holds every copy; after each burst `/reset`
 * unloads them all.
 */

import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
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
  report,
  sleep,
  startMirrorProcess,
  startOfflineServer,
  startServer,
  tempDir,
} from './lib/common.mjs';

const { smoke } = benchArgs();
const COPIES = smoke ? 4 : 60;
const repetitions = smoke ? 1 : 3;
/** Pause between two probes, in ms. */
const GAP_MS = 2;

const models = await demoModelsDir([TINY_MODEL]);
const root = await tempDir('burst-models');
const cache = await tempDir('burst-cache');
const prober = forkHelper('health-prober.mjs');
try {
  const names = Array.from({ length: COPIES }, (_, i) => `burst/tiny-${String(i).padStart(2, '0')}`);
  await mkdir(join(root.path, 'burst'), { recursive: true });
  for (const name of names) await cp(join(models, TINY_MODEL), join(root.path, name), { recursive: true });
  log(`caching ${COPIES} copies of ${TINY_MODEL}`);
  const mirror = await startMirrorProcess(root.path);
  try {
    const filler = await startServer({ hubUrl: mirror.url, cacheDir: cache.path });
    try {
      for (const name of names) {
        expectReady(await loadModel(filler.url, name), `caching ${name}`);
        await postJson(`${filler.url}/unload_model`, { model: name });
      }
    } finally {
      await filler.close();
    }
  } finally {
    await mirror.close();
  }

  const server = await startOfflineServer(cache.path);
  try {
    // One untimed load: the first import of ONNX Runtime reads it from disk.
    expectReady(await loadModel(server.url, names[0]), 'warm-up');
    await postJson(`${server.url}/reset`, {});

    await prober.request({ type: 'start', url: server.url, gapMs: GAP_MS });
    await sleep(300);
    const idle = [];
    const bursts = [];
    const burstMs = [];
    for (let rep = 0; rep < repetitions; rep += 1) {
      const start = monoMs();
      const transcripts = await Promise.all(names.map((name) => loadModel(server.url, name)));
      transcripts.forEach((transcript, i) => expectReady(transcript, `burst load ${names[i]}`));
      const end = Math.max(...transcripts.map((transcript) => transcript.times.at(-1)));
      bursts.push([start, end]);
      burstMs.push(end - start);
      await postJson(`${server.url}/reset`, {});
      // Let the workers' teardown finish, then an idle window as long as the burst was.
      await sleep(500);
      const idleStart = monoMs();
      await sleep(Math.max(300, end - start));
      idle.push([idleStart, monoMs()]);
      log(`burst ${rep + 1}/${repetitions}: ${COPIES} loads in ${(end - start).toFixed(0)} ms`);
    }
    const { samples } = await prober.request({ type: 'stop' });
    // A request counts for a window when it was in flight during it (see responsiveness.mjs).
    const within = (windows) =>
      samples.filter(([at, ms]) => windows.some(([from, to]) => at <= to && at + ms >= from)).map(([, ms]) => ms);
    const idleMs = within(idle);
    const burstSamples = within(bursts);
    if (idleMs.length === 0 || burstSamples.length === 0) throw new Error('no /health samples in a window');
    await report({
      id: 'load-burst',
      title: `Responsiveness during ${COPIES} concurrent loads`,
      repetitions,
      figures: [
        figure(`GET /health p99, ${COPIES} loads at once`, percentile(burstSamples, 99), 'ms', {
          baseline: percentile(idleMs, 99),
          baselineLabel: 'p99 with no load',
          op: '<=',
          target: 50,
          targetOn: 'value',
        }),
        figure(`GET /health max, ${COPIES} loads at once`, Math.max(...burstSamples), 'ms', {
          baseline: Math.max(...idleMs),
          baselineLabel: 'max with no load',
        }),
        figure(`${COPIES} loads from the disk cache, first request to last ready`, Math.min(...burstMs), 'ms'),
      ],
      notes: [
        `${COPIES} copies of ${TINY_MODEL} under distinct names, cached on disk; ${burstSamples.length} samples ` +
          `during bursts, ${idleMs.length} idle (${repetitions} bursts).`,
        `Prober: its own process, one keep-alive connection, one request at a time, ${GAP_MS} ms apart.`,
      ],
    });
  } finally {
    await server.close();
  }
} finally {
  await prober.close();
  await cache.cleanup();
  await root.cleanup();
}
