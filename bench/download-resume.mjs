/**
 * Downloads that keep what they received (issue 23): the server loading the ~100 MB demo model through the mirror as
 * the Hub is today (the weights a 302 to a signed CDN URL), behind 2 MB/s a connection and 4 MB/s in all, is
 * - killed (SIGKILL) once the mirror has sent half of the big file, then started again on the same cache;
 * - cancelled (`POST /unload_model` while it loads) at the same point, then asked again.
 * The figure is the bytes of the big file the mirror sends for the second load, over the bytes still missing (the
 * file's size less what the mirror had sent before the kill or cancel): 1.0 fetches only the holes (target ≤ 1.05).
 *
 * Server and mirror each run in a process of their own (the server is what is killed; a hub is another machine).
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
  report,
  startMirrorProcess,
  startServerProcess,
  tempDir,
  unloadModel,
  until,
} from './lib/common.mjs';

const { smoke } = benchArgs();
// Smoke: the 1 MB model behind a link as slow for its size, so the cut still comes in the middle of the download.
const model = smoke ? TINY_MODEL : BIG_MODEL;
const PER_CONNECTION = smoke ? 500e3 : 2e6;
const LINK = smoke ? 1e6 : 4e6;
const repetitions = smoke ? 1 : 3;

const models = await demoModelsDir([model]);
const mirror = await startMirrorProcess(models, { redirect: true });
try {
  const [bigFile] = await listWeightFiles(mirror.url, model);
  await mirror.shape({ throttle: PER_CONNECTION, linkThrottle: LINK });
  const killed = [];
  const cancelled = [];
  for (let rep = 0; rep < repetitions; rep += 1) {
    killed.push(await afterKill(bigFile));
    log(`kill rep ${rep + 1}/${repetitions}: ${describe(killed.at(-1))}`);
    cancelled.push(await afterCancel(bigFile));
    log(`cancel rep ${rep + 1}/${repetitions}: ${describe(cancelled.at(-1))}`);
  }
  const row = (label, runs) =>
    figure(label, median(runs.map((r) => r.fetched)), 'B', {
      baseline: median(runs.map((r) => r.missing)),
      baselineLabel: 'bytes still missing',
      ratio: median(runs.map((r) => r.fetched / r.missing)),
      op: '<=',
      target: 1.05,
      samples: runs.map((r) => r.fetched / r.missing),
    });
  await report({
    id: 'download-resume',
    title: `Download kept across a kill and a cancel (${PER_CONNECTION / 1e6} MB/s a connection, ${LINK / 1e6} MB/s in all)`,
    repetitions,
    figures: [
      row('bytes fetched after a SIGKILL at half of the big file', killed),
      row('bytes fetched after a cancel at half of the big file', cancelled),
      figure('big file sent before the kill', median(killed.map((r) => r.sentBefore)), 'B', {
        baseline: bigFile.size,
        baselineLabel: `${bigFile.path}'s size`,
      }),
    ],
    notes: [
      `${model}: ${bigFile.path} (${bigFile.size} B) from the mirror's CDN origin (a 302 to a signed URL, as the Hub's ` +
        `Xet bridge), ${PER_CONNECTION / 1e6} MB/s a connection and ${LINK / 1e6} MB/s in all.`,
      'Kill: the server process gets SIGKILL once the mirror has sent half of the big file; a new server on the same ' +
        'cache loads the model again. Cancel: POST /unload_model at the same point, then the same server loads it again.',
      'Figure: the mirror body bytes of the big file for the second load; baseline: the size less the bytes the ' +
        'mirror had sent before (bytes sent but still in socket buffers count as received, so 1.0 is the best possible).',
    ],
  });
} finally {
  await mirror.close();
}

function describe(run) {
  return `${(run.sentBefore / 1e6).toFixed(1)} MB sent before, ${(run.fetched / 1e6).toFixed(1)} MB after, ${(run.fetched / run.missing).toFixed(2)} of the missing`;
}

/**
 * Waits until the mirror has sent half of `file`; throws if `loading` (the load under way) ends first, with how it
 * ended, rather than waiting for a download that is over.
 */
function halfSent(file, loading) {
  const ended = loading.then(
    (result) => {
      throw new Error(`the load ended before half of ${file.path} was sent: ${JSON.stringify(result.events.at(-1))}`);
    },
    (error) => {
      throw new Error(`the load failed before half of ${file.path} was sent: ${error.message}`);
    },
  );
  ended.catch(() => undefined); // the load ends later in every run: by the kill, the cancel or in full
  const half = until(
    `half of ${file.path}`,
    async () => (await mirror.bytesSent(file.path)) >= file.size / 2,
    600_000,
    50,
  );
  return Promise.race([half, ended]);
}

/** Loads the model once more and resolves with the bytes of `file` the mirror sent for it. */
async function reload(server, file) {
  await mirror.clear();
  expectReady(await loadModel(server.url, model), 'the load after');
  return mirror.bytesSent(file.path);
}

async function afterKill(file) {
  const cache = await tempDir('resume-kill');
  try {
    await mirror.clear();
    const first = await startServerProcess(mirror.url, cache.path);
    const loading = loadModel(first.url, model);
    await halfSent(file, loading);
    await first.kill('SIGKILL');
    await loading.catch(() => undefined);
    await mirror.settled();
    const sentBefore = await mirror.bytesSent(file.path);
    const second = await startServerProcess(mirror.url, cache.path);
    try {
      const fetched = await reload(second, file);
      return { sentBefore, missing: file.size - sentBefore, fetched };
    } finally {
      await second.close();
    }
  } finally {
    await cache.cleanup();
  }
}

async function afterCancel(file) {
  const cache = await tempDir('resume-cancel');
  const server = await startServerProcess(mirror.url, cache.path);
  try {
    await mirror.clear();
    const loading = loadModel(server.url, model);
    await halfSent(file, loading);
    const status = await unloadModel(server.url, model);
    if (status !== 200) throw new Error(`/unload_model of the loading model answered ${status}`);
    const last = (await loading).events.at(-1);
    if (last?.status !== 'error' || last.code !== 'CANCELLED')
      throw new Error(`not cancelled: ${JSON.stringify(last)}`);
    await mirror.settled();
    const sentBefore = await mirror.bytesSent(file.path);
    const fetched = await reload(server, file);
    return { sentBefore, missing: file.size - sentBefore, fetched };
  } finally {
    await server.close();
    await cache.cleanup();
  }
}
