/**
 * Fair sharing (issue 23): the time to `ready` of the ~10 MB demo model asked for while the ~100 MB one downloads,
 * over its time alone, behind the same link (2 MB/s a connection, 4 MB/s in all; the weights through the mirror's
 * signed CDN URLs, as the Hub's). Sharing the link evenly, the small model gets half of it: about 2 (target ≤ 2).
 *
 * Each repetition starts from empty caches; the server and the mirror run in processes of their own. The large load
 * is cancelled once the small one is ready, so the next repetition starts from an idle link.
 */

import {
  BIG_MODEL,
  TINY_MODEL,
  benchArgs,
  demoModelsDir,
  expectReady,
  figure,
  listWeightFiles,
  loadModel,
  log,
  median,
  monoMs,
  pairedRatio,
  report,
  startMirrorProcess,
  startServerProcess,
  tempDir,
  unloadModel,
  until,
} from './lib/common.mjs';

const { smoke } = benchArgs();
const SMALL = smoke ? TINY_MODEL : 'modeldeck/chat-10m';
const LARGE = smoke ? 'modeldeck/chat-10m' : BIG_MODEL;
const PER_CONNECTION = smoke ? 1e6 : 2e6;
const LINK = smoke ? 2e6 : 4e6;
const repetitions = smoke ? 1 : 3;

const models = await demoModelsDir([SMALL, LARGE]);
const mirror = await startMirrorProcess(models, { redirect: true });
try {
  const [largeFile] = await listWeightFiles(mirror.url, LARGE);
  await mirror.shape({ throttle: PER_CONNECTION, linkThrottle: LINK });
  const alone = [];
  const during = [];
  for (let rep = 0; rep < repetitions; rep += 1) {
    alone.push(await timeAlone());
    during.push(await timeDuringLarge(largeFile));
    log(`rep ${rep + 1}/${repetitions}: alone ${alone.at(-1).toFixed(0)} ms, during ${during.at(-1).toFixed(0)} ms`);
  }
  await report({
    id: 'download-fair',
    title: `A small model during a large download (${PER_CONNECTION / 1e6} MB/s a connection, ${LINK / 1e6} MB/s in all)`,
    repetitions,
    figures: [
      figure(`${SMALL}: POST to ready during ${LARGE}'s download`, median(during), 'ms', {
        baseline: median(alone),
        baselineLabel: 'alone, same link',
        ratio: pairedRatio(during, alone),
        op: '<=',
        target: 2,
        samples: during,
      }),
    ],
    notes: [
      `The ${LARGE} load is asked for first; ${SMALL} is asked for once the mirror has sent 10% of ` +
        `${largeFile.path} (${largeFile.size} B), and timed from its POST to its ready event.`,
      'Alone: the same load into an empty cache with nothing else on the link. Ratio: the median of the ' +
        'per-repetition ratios.',
    ],
  });
} finally {
  await mirror.close();
}

async function timeAlone() {
  const cache = await tempDir('fair-alone');
  const server = await startServerProcess(mirror.url, cache.path);
  try {
    const started = monoMs();
    expectReady(await loadModel(server.url, SMALL), `${SMALL} alone`);
    return monoMs() - started;
  } finally {
    await server.close();
    await cache.cleanup();
  }
}

async function timeDuringLarge(largeFile) {
  const cache = await tempDir('fair-during');
  const server = await startServerProcess(mirror.url, cache.path);
  try {
    await mirror.clear();
    const large = loadModel(server.url, LARGE);
    await until(
      `10% of ${largeFile.path}`,
      async () => (await mirror.bytesSent(largeFile.path)) >= largeFile.size / 10,
      600_000,
      50,
    );
    const started = monoMs();
    expectReady(await loadModel(server.url, SMALL), `${SMALL} during ${LARGE}`);
    const took = monoMs() - started;
    await unloadModel(server.url, LARGE);
    await large;
    return took;
  } finally {
    await server.close();
    await cache.cleanup();
  }
}
