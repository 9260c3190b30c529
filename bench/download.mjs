/**
 * Benchmark 1, downloads: the server downloading the ~100 MB demo model (the `download` stage, first to last
 * `download` event, as a client sees it)
 * - from the unthrottled mirror, versus a raw single HTTP GET of the same files from the same mirror in the same
 *   process, streamed into a file (target: at least 0.9 of raw);
 * - behind the mirror shaped like a CDN, 4 MB/s per connection and 32 MB/s for all, versus that link (target: at
 *   least 0.85 of 32 MB/s; one connection per file would get 4 MB/s, 0.12);
 * - with a connection reset at half of the big file, the bytes fetched again over the file's size (target: at most
 *   0.05).
 *
 * The mirror runs in its own process (a hub is another machine). Each repetition starts from an empty cache; the
 * order of the two alternates so neither always meets a warmer page cache.
 */

import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

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
  startServer,
  tempDir,
} from './lib/common.mjs';

const { smoke } = benchArgs();
/** The raw baselines buffer file writes as the server's downloader does (4 MiB), so neither waits on the disk more. */
const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;
const model = smoke ? TINY_MODEL : BIG_MODEL;
// 15: the raw GET alone swings from 190 to 390 MB/s between repetitions on this shared host.
const repetitions = smoke ? 1 : 15;
const shapedRepetitions = smoke ? 1 : 3;
const PER_CONNECTION = 4e6;
const LINK = 32e6;

const models = await demoModelsDir([model]);
const mirror = await startMirrorProcess(models);
try {
  const weightFiles = await listWeightFiles(mirror.url, model);
  const server = [];
  const raw = [];
  const discard = [];
  const viaFetch = [];
  const endToEnd = [];
  let bytes = 0;
  for (let rep = 0; rep < repetitions; rep += 1) {
    const runServer = async () => {
      const result = await serverDownload(mirror.url, model);
      bytes = result.bytes;
      server.push(result.bytesPerSecond);
      endToEnd.push(result.toWeightsMs);
    };
    const runRaw = async () => {
      raw.push(await rawDownload(mirror.url, model, weightFiles, 'http-file'));
      discard.push(await rawDownload(mirror.url, model, weightFiles, 'http-discard'));
      viaFetch.push(await rawDownload(mirror.url, model, weightFiles, 'fetch-file'));
    };
    if (rep % 2 === 0) {
      await runRaw();
      await runServer();
    } else {
      await runServer();
      await runRaw();
    }
    log(`download rep ${rep + 1}/${repetitions}: server ${mbps(server.at(-1))} MB/s, raw ${mbps(raw.at(-1))} MB/s`);
  }
  const shaped = [];
  const cut = [];
  const bigFile = weightFiles.reduce((a, b) => (b.size > a.size ? b : a));
  for (let rep = 0; rep < shapedRepetitions; rep += 1) {
    await mirror.shape({ throttle: PER_CONNECTION, linkThrottle: LINK });
    shaped.push((await serverDownload(mirror.url, model)).bytesPerSecond);
    await mirror.clear();
    const half = Math.floor(bigFile.size / 2);
    await mirror.shape({ faults: [{ kind: 'reset', path: bigFile.path, afterBytes: half, times: 1 }] });
    await serverDownload(mirror.url, model);
    cut.push(((await mirror.bytesSent(bigFile.path)) - bigFile.size) / bigFile.size);
    await mirror.shape({});
    log(`download shaped rep ${rep + 1}/${shapedRepetitions}: ${mbps(shaped.at(-1))} MB/s; refetched ${cut.at(-1)}`);
  }
  const weightBytes = weightFiles.reduce((sum, file) => sum + file.size, 0);
  if (bytes !== weightBytes) throw new Error(`the server downloaded ${bytes} bytes, the weights are ${weightBytes}`);
  await report({
    id: 'download',
    title: 'Download throughput',
    repetitions,
    figures: [
      figure('download stage throughput', mbps(median(server)), 'MB/s', {
        baseline: mbps(median(raw)),
        baselineLabel: 'raw single GET to file',
        ratio: pairedRatio(server, raw),
        op: '>=',
        target: 0.9,
        samples: server.map(mbps),
      }),
      figure('versus fetch() into a file', mbps(median(server)), 'MB/s', {
        baseline: mbps(median(viaFetch)),
        baselineLabel: 'raw fetch() GET to file',
        ratio: pairedRatio(server, viaFetch),
        samples: viaFetch.map(mbps),
      }),
      figure('versus a GET that discards the body', mbps(median(server)), 'MB/s', {
        baseline: mbps(median(discard)),
        baselineLabel: 'raw GET, discarded',
        ratio: pairedRatio(server, discard),
        samples: discard.map(mbps),
      }),
      figure('behind 4 MB/s a connection, 32 MB/s in all', mbps(median(shaped)), 'MB/s', {
        baseline: mbps(LINK),
        baselineLabel: 'the link',
        ratio: median(shaped) / LINK,
        op: '>=',
        target: 0.85,
        samples: shaped.map(mbps),
      }),
      figure('bytes fetched again after a reset at half the big file', median(cut) * bigFile.size, 'B', {
        baseline: bigFile.size,
        baselineLabel: `${bigFile.path}'s size`,
        ratio: median(cut),
        op: '<=',
        target: 0.05,
        samples: cut,
      }),
      figure('POST to first weights event', median(endToEnd), 'ms', { samples: endToEnd }),
    ],
    notes: [
      `${model}: ${weightFiles.map((f) => `${f.path} (${f.size} B)`).join(', ')}; mirror unthrottled, in its own process.`,
      'Server figure: download-stage bytes over the time from its first to its last download event, client side.',
      'Ratios: the median of the per-repetition ratios (each repetition runs both sides back to back).',
      'Shaped: the mirror limits each response to 4 MB/s and all of them together to 32 MB/s; ratio = throughput / ' +
        '32 MB/s. Cut: the first response holding the middle byte of the big file is reset there; the figure is the ' +
        "mirror's body bytes for that file minus its size.",
      'Raw baseline: node:http GET of the same files, one after another, piped into a file on the same disk. ' +
        "The fetch() row does the same with the global fetch (undici), which the server's hub client used for file bodies before it read them with node:http.",
    ],
  });
} finally {
  await mirror.close();
}

function mbps(bytesPerSecond) {
  return bytesPerSecond / 1e6;
}

/** One `/load_model` into an empty cache; resolves with the download stage's throughput. */
async function serverDownload(hubUrl, id) {
  const cache = await tempDir('download-cache');
  const server = await startServer({ hubUrl, cacheDir: cache.path });
  try {
    let first;
    let last;
    let total = 0;
    let weightsAt;
    const started = monoMs();
    const transcript = await loadModel(server.url, id, {
      onEvent: (event, at) => {
        if (event.status !== 'loading') return;
        if (event.stage === 'download' && event.progress !== undefined) {
          first ??= at;
          total = event.progress.total;
          if (event.progress.current === event.progress.total) last = at;
        }
        if (event.stage === 'weights') weightsAt ??= at;
      },
    });
    expectReady(transcript, 'download');
    if (first === undefined || last === undefined || weightsAt === undefined) {
      throw new Error(`no complete download stage in ${JSON.stringify(transcript.events)}`);
    }
    return { bytes: total, bytesPerSecond: total / ((last - first) / 1000), toWeightsMs: weightsAt - started };
  } finally {
    await server.close();
    await cache.cleanup();
  }
}

/**
 * GETs each file in turn and resolves with bytes per second: `http-file` pipes node:http into a file, `http-discard`
 * drops the body, `fetch-file` writes fetch()'s body into a file (with backpressure, as the server's downloader does).
 */
async function rawDownload(hubUrl, id, files, mode) {
  const dir = await tempDir('download-raw');
  try {
    const started = monoMs();
    let bytes = 0;
    for (const file of files) {
      const url = `${hubUrl}/${id}/resolve/main/${file.path}`;
      const target = join(dir.path, file.path);
      await mkdir(dirname(target), { recursive: true });
      if (mode === 'fetch-file') {
        const res = await fetch(url);
        if (res.status !== 200 || res.body === null) throw new Error(`raw fetch ${file.path}: ${res.status}`);
        const out = createWriteStream(target, { highWaterMark: WRITE_BUFFER_BYTES });
        for await (const chunk of res.body) {
          bytes += chunk.byteLength;
          if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
        }
        await new Promise((resolve, reject) => out.on('error', reject).end(resolve));
        continue;
      }
      const res = await new Promise((resolve, reject) => {
        http.get(url, resolve).on('error', reject);
      });
      if (res.statusCode !== 200) throw new Error(`raw GET ${file.path}: ${res.statusCode}`);
      res.on('data', (chunk) => (bytes += chunk.length));
      if (mode === 'http-file') {
        await pipeline(res, createWriteStream(target, { highWaterMark: WRITE_BUFFER_BYTES }));
      } else {
        res.resume();
        await new Promise((resolve, reject) => res.on('end', resolve).on('error', reject));
      }
    }
    const seconds = (monoMs() - started) / 1000;
    const expected = files.reduce((sum, file) => sum + file.size, 0);
    if (bytes !== expected) throw new Error(`raw ${mode} received ${bytes} bytes, expected ${expected}`);
    return bytes / seconds;
  } finally {
    await dir.cleanup();
  }
}
