/**
 * Fair sharing (issue 23): the time to `ready` of the ~10 MB demo model asked for while the ~100 MB one downloads,
 * over its time alone, behind the same link (2 MB/s a connection, 4 MB/s in all; the weights through the mirror's
 * signed CDN URLs, as the Hub's). Sharing the link evenly, the small model would get half of it: a little under 2
 * (target ≤ 2); the load with fewer bytes left weighs three to one (`fair-share.ts`), so it gets about three quarters.
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
/** How often the mirror's byte counts are sampled for the share, in milliseconds. */
const SAMPLE_MS = 100;

const models = await demoModelsDir([SMALL, LARGE]);
const mirror = await startMirrorProcess(models, { redirect: true });
try {
  const [largeFile] = await listWeightFiles(mirror.url, LARGE);
  await mirror.shape({ throttle: PER_CONNECTION, linkThrottle: LINK });
  const [smallFile] = await listWeightFiles(mirror.url, SMALL);
  const alone = [];
  const during = [];
  const shares = [];
  for (let rep = 0; rep < repetitions; rep += 1) {
    alone.push(await timeAlone());
    const { took, share } = await timeDuringLarge(largeFile, smallFile);
    during.push(took);
    shares.push(share);
    log(
      `rep ${rep + 1}/${repetitions}: alone ${alone.at(-1).toFixed(0)} ms, during ${took.toFixed(0)} ms, ` +
        `small model's share of the link ${share.toFixed(2)}`,
    );
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
      figure(`${SMALL}: its share of the bytes sent while both weights files download`, median(shares), 'fraction', {
        samples: shares,
      }),
    ],
    notes: [
      `The ${LARGE} load is asked for first; ${SMALL} is asked for once the mirror has sent 10% of ` +
        `${largeFile.path} (${largeFile.size} B), and timed from its POST to its ready event.`,
      'Alone: the same load into an empty cache with nothing else on the link. Ratio: the median of the ' +
        'per-repetition ratios.',
      `Share: the bytes the mirror sent of ${SMALL}'s weights over those of both weights files, sampled every ` +
        `${SAMPLE_MS} ms from the first to the last sample in which ${SMALL}'s grew: 0.5 is an even split, 0.75 ` +
        'the three-to-one weight of the load with fewer bytes left. Only the weights download is shared: the steps ' +
        'before it (config, tokenizer) and after it (the session) take about the same time either way, so an even ' +
        'split would put the ratio a little under 2.',
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

/**
 * The small model's share of the bytes sent while both weights files were downloading, from the mirror's counts
 * sampled every {@link SAMPLE_MS} until `done()`.
 */
async function sampleShare(smallFile, largeFile, done) {
  const samples = [];
  while (!done()) {
    samples.push([await mirror.bytesSent(smallFile.path), await mirror.bytesSent(largeFile.path)]);
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  }
  const grew = samples.map((s, i) => i > 0 && s[0] > samples[i - 1][0]);
  const first = grew.indexOf(true) - 1;
  const last = grew.lastIndexOf(true);
  if (first < 0 || last <= first) return Number.NaN;
  const small = samples[last][0] - samples[first][0];
  const large = samples[last][1] - samples[first][1];
  return small / (small + large);
}

async function timeDuringLarge(largeFile, smallFile) {
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
    let ready = false;
    const share = sampleShare(smallFile, largeFile, () => ready);
    const started = monoMs();
    try {
      expectReady(await loadModel(server.url, SMALL), `${SMALL} during ${LARGE}`);
    } finally {
      ready = true;
    }
    const took = monoMs() - started;
    await unloadModel(server.url, LARGE);
    await large;
    return { took, share: await share };
  } finally {
    await server.close();
    await cache.cleanup();
  }
}
