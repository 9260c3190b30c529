/**
 * A large file (issues 23 and 26): the server downloading a model whose weights file is 4 GB (`--size`) through the
 * mirror as the Hub is today (a 302 to a signed CDN URL), unthrottled, at a quarter, half and all of the size (a
 * curve: what each GB costs), and once behind a link. Figures:
 * - the server's peak resident memory during the download (target ≤ 256 MB, whatever the size), sampled from
 *   /proc/PID/status every 25 ms, next to its resident memory before the load;
 * - the download's throughput over a raw single GET of the same file into a file (target ≥ 0.9);
 * - the time from the last byte to the blobs verified (the stage after `download` begins) over the download's time
 *   (target ≤ 0.05).
 *
 * The weights are a sparse file: the ~100 MB demo model's `model.onnx_data` followed by a hole up to the size, so the
 * repository on disk holds ~100 MB whatever the size, is made in milliseconds and removed after each size. The mirror
 * serves it as any file (stat, ranges, its sha256 computed once), so nothing in the mirror or the server knows it is
 * special; reading a hole costs the mirror less than reading a disk, and the same for the server and the raw GET, so
 * their ratio holds. (A synthetic stream would have needed code of its own in the mirror, which then serves something
 * other than files.) The load is cancelled once the download stage is over: the figures are the download's, and a
 * model whose weights were cut short or padded would not load anyway.
 *
 * Mirror and server run in processes of their own; the server's cache and the raw GET's file (each the full size) are
 * deleted as soon as they are measured, so at most one of them is on disk at a time.
 */

import { copyFile, mkdir, readdir, rm, truncate } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

import {
  BIG_MODEL,
  benchArgs,
  demoModelsDir,
  figure,
  listWeightFiles,
  loadModel,
  log,
  monoMs,
  report,
  residentBytes,
  sleep,
  startMirrorProcess,
  startServerProcess,
  tempDir,
  unloadModel,
  watchDownload,
} from './lib/common.mjs';

const { smoke, size: sizeArg } = benchArgs();
const SIZE = sizeArg ?? (smoke ? 24e6 : 4e9);
// A quarter, half and all of the size, each a whole number of 64 KiB blocks.
const SIZES = [SIZE / 4, SIZE / 2, SIZE].map((bytes) => Math.max(65536, Math.ceil(bytes / 65536) * 65536));
const REPO = 'modeldeck/chat-large';
const WEIGHTS = 'onnx/model.onnx_data';
const SHAPED = { throttle: 16e6, linkThrottle: 64e6 };
/** As the download benchmark's raw baseline: writes buffered as the server's downloader buffers them. */
const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;
const RSS_LIMIT = 256 * 1024 * 1024;

const demo = await demoModelsDir([BIG_MODEL]);
const root = await tempDir('large-root');
const mirror = await startMirrorProcess(root.path, { redirect: true });
try {
  const runs = [];
  for (const [index, size] of SIZES.entries()) {
    await makeRepo(size);
    try {
      await fetch(`${mirror.url}/api/models/${REPO}/tree/main?recursive=true`).then((res) => res.arrayBuffer());
      const [weights] = await listWeightFiles(mirror.url, REPO);
      if (weights?.size !== size) throw new Error(`the mirror lists ${JSON.stringify(weights)}, expected ${size} B`);
      // Alternated, so neither side always meets the warmer page cache.
      const raw = index % 2 === 0 ? await rawGet() : undefined;
      const server = await serverDownload();
      const run = { size, raw: raw ?? (await rawGet()), server };
      runs.push(run);
      log(`${sized(size)}: ${describe(run)}`);
      if (index === 0) {
        await mirror.shape(SHAPED);
        run.shaped = await serverDownload();
        await mirror.shape({});
        log(`${sized(size)} behind a link: ${mb(run.shaped.bytesPerSecond)} MB/s, peak ${mib(run.shaped.peak)} MiB`);
      }
    } finally {
      await rm(join(root.path, REPO), { recursive: true, force: true });
    }
  }
  await report({
    id: 'download-large',
    title: `A ${sized(SIZE)} weights file (sparse), unthrottled`,
    repetitions: 1,
    figures: figures(runs),
    notes: [
      `${REPO}: ${BIG_MODEL}'s files with ${WEIGHTS} grown to ${SIZES.map((s) => `${s} B`).join(', ')} by a hole ` +
        '(sparse; the mirror reads zeros past the real data). Through the mirror as the Hub is today: a 302 to a ' +
        'signed CDN URL. Mirror and server in processes of their own; the load is cancelled after its download stage.',
      'Peak: the largest VmRSS of the server process sampled every 25 ms during the download stage; baseline: its ' +
        'VmRSS before the load (the worker thread that imports transformers.js and ONNX Runtime starts during the ' +
        'download, in the same process, and counts).',
      'Throughput: download-stage bytes over the time from its first event to the last byte (current == total); raw: ' +
        'one node:http GET of the weights file (following the 302) piped into a file.',
      "Verify: from the last byte to the first event of the stage after download (the checksum's tail, the rename " +
        'into blobs/, the snapshot link), over the download time.',
      `Behind a link: ${SHAPED.throttle / 1e6} MB/s a connection, ${SHAPED.linkThrottle / 1e6} MB/s in all, at ` +
        `${sized(SIZES[0])}.`,
    ],
  });
} finally {
  await mirror.close();
  await root.cleanup();
}

function figures(runs) {
  const full = runs.at(-1);
  const out = [];
  for (const run of runs) {
    const at = `${sized(run.size)}`;
    const target = run === full;
    out.push(
      // Bounded whatever the size: a target at every size.
      figure(`peak server RSS during the download, ${at}`, mib(run.server.peak), 'MiB', {
        baseline: mib(run.server.idle),
        baselineLabel: 'RSS before the load',
        targetOn: 'value',
        op: '<=',
        target: RSS_LIMIT / 2 ** 20,
      }),
      figure(`throughput, ${at}`, mb(run.server.bytesPerSecond), 'MB/s', {
        baseline: mb(run.raw),
        baselineLabel: 'raw single GET to file',
        ...(target ? { op: '>=', target: 0.9 } : {}),
      }),
      figure(`last byte to verified, ${at}`, run.server.verifyMs, 'ms', {
        baseline: run.server.downloadMs,
        baselineLabel: 'the download',
        ...(target ? { op: '<=', target: 0.05 } : {}),
      }),
    );
  }
  out.push(
    figure('peak RSS growth per GB (slope over the three sizes)', slope(runs), 'MiB/GB', {
      samples: runs.map((run) => mib(run.server.peak)),
    }),
  );
  const shaped = runs[0]?.shaped;
  if (shaped !== undefined) {
    out.push(
      figure(`peak server RSS behind a link, ${sized(runs[0].size)}`, mib(shaped.peak), 'MiB', {
        baseline: mib(shaped.idle),
        baselineLabel: 'RSS before the load',
        targetOn: 'value',
        op: '<=',
        target: RSS_LIMIT / 2 ** 20,
      }),
      figure(`throughput behind a link, ${sized(runs[0].size)}`, mb(shaped.bytesPerSecond), 'MB/s', {
        baseline: mb(SHAPED.linkThrottle),
        baselineLabel: 'the link',
      }),
    );
  }
  return out;
}

/** Least-squares slope of the peak RSS over the size, in MiB per GB. */
function slope(runs) {
  const xs = runs.map((run) => run.size / 1e9);
  const ys = runs.map((run) => mib(run.server.peak));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** The repository at `size`: the demo model's files, its weights file grown (or cut) to `size` with a hole. */
async function makeRepo(size) {
  const from = join(demo, BIG_MODEL);
  const to = join(root.path, REPO);
  const copyTree = async (dir) => {
    for (const entry of await readdir(join(from, dir), { withFileTypes: true })) {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        await mkdir(join(to, path), { recursive: true });
        await copyTree(path);
      } else await copyFile(join(from, path), join(to, path));
    }
  };
  await mkdir(to, { recursive: true });
  await copyTree('');
  await truncate(join(to, WEIGHTS), size);
}

/** One load into an empty cache, its download stage watched and the server's memory sampled; then cancelled. */
async function serverDownload() {
  const cache = await tempDir('large-cache');
  const server = await startServerProcess(mirror.url, cache.path);
  try {
    const idle = (await residentBytes(server.pid)).rss;
    const watch = watchDownload();
    let peak = idle;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if (watch.phase === 'download') peak = Math.max(peak, (await residentBytes(server.pid))?.rss ?? 0);
        await sleep(25);
      }
    })();
    let cancelled;
    const transcript = await loadModel(server.url, REPO, {
      onEvent: (event, at) => {
        watch.onEvent(event, at);
        if (watch.phase === 'after' && cancelled === undefined) cancelled = unloadModel(server.url, REPO);
      },
    });
    sampling = false;
    await sampler;
    await cancelled;
    const { bytesPerSecond, first, last, next } = watch.result();
    if (next === undefined)
      throw new Error(`the load ended in its download stage: ${JSON.stringify(transcript.events.at(-1))}`);
    return { idle, peak, bytesPerSecond, downloadMs: last - first, verifyMs: next - last };
  } finally {
    await server.close();
    await cache.cleanup();
  }
}

/**
 * A raw GET of the weights file into a file, following the hub's 302 to the CDN (a file under the LFS threshold, 10
 * MiB, is answered by the hub itself); resolves with bytes per second.
 */
async function rawGet() {
  const dir = await tempDir('large-raw');
  try {
    const started = monoMs();
    let res = await get(`${mirror.url}/${REPO}/resolve/main/${WEIGHTS}`);
    if (res.statusCode === 302 && res.headers.location !== undefined) {
      res.resume();
      res = await get(res.headers.location);
    }
    if (res.statusCode !== 200) throw new Error(`raw GET answered ${res.statusCode}`);
    let bytes = 0;
    res.on('data', (chunk) => (bytes += chunk.length));
    await pipeline(res, createWriteStream(join(dir.path, 'weights'), { highWaterMark: WRITE_BUFFER_BYTES }));
    const seconds = (monoMs() - started) / 1000;
    const expected = Number(res.headers['content-length']);
    if (bytes !== expected) throw new Error(`raw GET received ${bytes} bytes, expected ${expected}`);
    return bytes / seconds;
  } finally {
    await dir.cleanup();
  }
}

function get(url) {
  return new Promise((resolve, reject) => http.get(url, resolve).on('error', reject));
}

function describe(run) {
  const { server, raw } = run;
  return (
    `peak ${mib(server.peak)} MiB (idle ${mib(server.idle)}), ${mb(server.bytesPerSecond)} MB/s against raw ` +
    `${mb(raw)}, verify ${server.verifyMs.toFixed(0)} ms of ${server.downloadMs.toFixed(0)}`
  );
}

/** A size for labels: `4 GB`, `1 GB`, `24 MB`. */
function sized(bytes) {
  return bytes >= 1e9 ? `${Number((bytes / 1e9).toPrecision(3))} GB` : `${Number((bytes / 1e6).toPrecision(3))} MB`;
}

function mb(bytesPerSecond) {
  return Number((bytesPerSecond / 1e6).toFixed(1));
}

function mib(bytes) {
  return Number((bytes / 2 ** 20).toFixed(1));
}
