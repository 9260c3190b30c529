/**
 * Capped CDN edges (issue 23): the server downloading the ~100 MB demo model through the mirror as the Hub is today
 * (a 302 to a signed CDN URL) at 4 MB/s a connection and 32 MB/s in all (the shaped link of the download benchmark:
 * eight connections fill it), where one CDN connection in four lands on an edge capped at 0.5 MB/s, 1/8 of the
 * others (as some of the Hub's CDN edges give one request ~8.7 MB/s where others give ~68: huggingface/xet-core#821).
 * The figure is the download stage's throughput over the link (target ≥ 0.8); the same download with no edge capped,
 * in the same run, shows what the slow edges cost.
 *
 * Each repetition starts from an empty cache; server and mirror run in processes of their own, the capped and
 * uncapped runs alternate.
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
  report,
  startMirrorProcess,
  startServerProcess,
  tempDir,
  watchDownload,
} from './lib/common.mjs';

const { smoke } = benchArgs();
const model = smoke ? TINY_MODEL : BIG_MODEL;
const PER_CONNECTION = 4e6;
const LINK = 32e6;
const CAP = PER_CONNECTION / 8;
const EVERY = 4;
const repetitions = smoke ? 1 : 3;

const models = await demoModelsDir([model]);
const mirror = await startMirrorProcess(models, { redirect: true });
try {
  const capped = [];
  const uncapped = [];
  for (let rep = 0; rep < repetitions; rep += 1) {
    await mirror.shape({
      throttle: PER_CONNECTION,
      linkThrottle: LINK,
      edgeCap: { bytesPerSecond: CAP, every: EVERY },
    });
    capped.push(await download());
    await mirror.shape({ throttle: PER_CONNECTION, linkThrottle: LINK });
    uncapped.push(await download());
    log(
      `rep ${rep + 1}/${repetitions}: capped edges ${mbps(capped.at(-1)).toFixed(1)} MB/s, ` +
        `none ${mbps(uncapped.at(-1)).toFixed(1)} MB/s`,
    );
  }
  await report({
    id: 'download-edges',
    title: `Download with capped CDN edges (${PER_CONNECTION / 1e6} MB/s a connection, ${LINK / 1e6} MB/s in all)`,
    repetitions,
    figures: [
      figure(`one connection in ${EVERY} capped at ${CAP / 1e6} MB/s`, mbps(median(capped)), 'MB/s', {
        baseline: mbps(LINK),
        baselineLabel: 'the link',
        ratio: median(capped) / LINK,
        op: '>=',
        target: 0.8,
        samples: capped.map(mbps),
      }),
      figure('no edge capped, same link', mbps(median(uncapped)), 'MB/s', {
        baseline: mbps(LINK),
        baselineLabel: 'the link',
        ratio: median(uncapped) / LINK,
        samples: uncapped.map(mbps),
      }),
    ],
    notes: [
      `${model} through the mirror's CDN origin (signed URLs, as the Hub's Xet bridge): the ${EVERY}th, ` +
        `${2 * EVERY}th, … connection the CDN accepts lands on a capped edge, every response on it at most ` +
        `${CAP / 1e6} MB/s.`,
      'Throughput: download-stage bytes over the time from its first to its last download event, client side.',
    ],
  });
} finally {
  await mirror.close();
}

function mbps(bytesPerSecond) {
  return bytesPerSecond / 1e6;
}

async function download() {
  const cache = await tempDir('edges');
  const server = await startServerProcess(mirror.url, cache.path);
  try {
    const watch = watchDownload();
    expectReady(await loadModel(server.url, model, { onEvent: (event, at) => watch.onEvent(event, at) }), 'edges');
    return watch.result().bytesPerSecond;
  } finally {
    await server.close();
    await cache.cleanup();
  }
}
