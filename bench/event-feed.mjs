/**
 * Benchmark: `GET /events` with N watchers (1,000; 20 in smoke mode) during a load, next to a plain `node:http`
 * broadcast of the same frames (the fan-out benchmark's baseline, written as feed frames).
 *
 * - Every watcher must get the snapshot, then every event of the load in order with strictly increasing ids, and the
 *   terminal `ready` (reported as the share of watchers that did).
 * - Delivery latency: from the loader's event (in the server process) to each watcher receiving the frame (in this
 *   process), on the shared monotonic clock; p50 and p99 over every watcher and frame.
 * - Server memory per watcher: heap + external after GC, with N attached versus none.
 */

import http from 'node:http';

import { createSseParser } from '../dist/protocol/sse.js';
import { parseFeedEvent, parseFeedId } from '../dist/protocol/feed.js';
import { benchArgs, figure, forkHelper, log, median, monoMs, pairedRatio, percentile, report } from './lib/common.mjs';

const { smoke } = benchArgs();
const N = smoke ? 20 : 1000;
const repetitions = smoke ? 1 : 3;
const STEPS = smoke ? 4 : 10;
const SPACING_MS = 120;
const BATCH = 100;

const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

/** One watcher: GET /events, records each event and when it arrived. `snapshot` resolves on the first event. */
function watch(url) {
  const frames = [];
  const controller = new AbortController();
  let resolveSnapshot;
  let rejectSnapshot;
  const snapshot = new Promise((resolve, reject) => {
    resolveSnapshot = resolve;
    rejectSnapshot = reject;
  });
  snapshot.catch(() => undefined);
  const req = http.get(`${url}/events`, { agent, signal: controller.signal }, (res) => {
    if (res.statusCode !== 200) {
      rejectSnapshot(new Error(`/events answered ${res.statusCode}`));
      return;
    }
    const parser = createSseParser({
      onEvent: ({ event = '', id = '', data }) => {
        const at = monoMs();
        const parsed = parseFeedEvent(event, id, data);
        if (!parsed.ok) throw new Error(`unreadable feed frame: ${parsed.error}`);
        frames.push({ event: parsed.event, at });
        if (frames.length === 1) resolveSnapshot();
      },
    });
    res.on('data', (chunk) => parser.feed(chunk));
    res.on('error', () => undefined);
  });
  req.on('error', (error) => rejectSnapshot(error));
  return { frames, snapshot, close: () => controller.abort() };
}

async function watchMany(url, n) {
  const all = [];
  for (let i = 0; i < n; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + BATCH); j += 1) batch.push(watch(url));
    await Promise.all(batch.map((w) => w.snapshot));
    all.push(...batch);
  }
  return all;
}

/**
 * Snapshot, then load events processor … ready in order, ids strictly increasing, ready the last load event (the
 * modeldeck feed then announces the process's `memory` and the model's `expiry`, which the plain baseline has no
 * reason to; whether they had arrived when the frames were read used to decide the share, 0 on a fast host).
 */
function complete(frames) {
  const [first, ...rest] = frames.map((f) => f.event);
  if (first?.event !== 'snapshot') return false;
  const sequences = frames.map((f) => parseFeedId(f.event.id)?.sequence ?? Number.NaN);
  if (!sequences.every((n, i) => i === 0 || n > sequences[i - 1])) return false;
  const labels = [];
  for (const e of rest) {
    if (e.event === 'memory' || e.event === 'expiry') continue;
    if (e.event !== 'load') return false;
    const label = e.data.status === 'loading' ? e.data.stage : e.data.status;
    if (labels.at(-1) !== label) labels.push(label);
  }
  return labels.join(',') === 'processor,config,download,weights,ready';
}

async function feedRun(server, url, rep) {
  const model = `bench/feed-${rep}`;
  const before = await server.request({ type: 'memory' });
  const watchers = await watchMany(url, N);
  await server.request({ type: 'waitWatchers', n: N });
  const during = await server.request({ type: 'memory' });
  await server.request({ type: 'start', model });
  const { emitted } = await server.request({ type: 'go', spacingMs: SPACING_MS, steps: STEPS });
  // The last frame (ready) went out; give the sockets a moment to deliver it everywhere.
  const deadline = monoMs() + 10_000;
  while (monoMs() < deadline && watchers.some((w) => w.frames.length < emitted.length + 2)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const completeShare = watchers.filter((w) => complete(w.frames)).length / N;
  const latencies = [];
  emitted.forEach((at, index) => {
    for (const { frames } of watchers) {
      // frames[0] is the snapshot, frames[1] the processor event sent when the load started.
      const frame = frames[index + 2];
      if (frame !== undefined) latencies.push(frame.at - at);
    }
  });
  for (const w of watchers) w.close();
  return {
    completeShare,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    bytesPerWatcher: (during.heapUsed + during.external - before.heapUsed - before.external) / N,
  };
}

// Both servers run side by side and each repetition measures both, in alternating order: the machine's speed drifts,
// and a ratio of two things measured back to back means more than two halves of a run.
const results = { modeldeck: [], plain: [] };
const servers = {
  modeldeck: forkHelper('feed-server.mjs', ['modeldeck']),
  plain: forkHelper('feed-server.mjs', ['plain']),
};
try {
  const urls = {};
  for (const mode of ['modeldeck', 'plain']) {
    urls[mode] = (await servers[mode].request({ type: 'url' })).url;
    await feedRun(servers[mode], urls[mode], `warm-up-${mode}`);
    await servers[mode].request({ type: 'waitWatchers', n: 0 });
  }
  for (let rep = 0; rep < repetitions; rep += 1) {
    const order = rep % 2 === 0 ? ['modeldeck', 'plain'] : ['plain', 'modeldeck'];
    for (const mode of order) {
      const r = await feedRun(servers[mode], urls[mode], `${mode}-${rep}`);
      await servers[mode].request({ type: 'waitWatchers', n: 0 });
      results[mode].push(r);
      log(
        `event-feed ${mode} rep ${rep + 1}/${repetitions}: p99 ${r.p99.toFixed(1)} ms, ${(r.bytesPerWatcher / 1024).toFixed(1)} KiB/watcher, complete ${r.completeShare}`,
      );
    }
  }
} finally {
  await Promise.all(Object.values(servers).map((server) => server.close()));
}

const pick = (mode, key) => results[mode].map((r) => r[key]);
const paired = (key) => pairedRatio(pick('modeldeck', key), pick('plain', key));
await report({
  id: 'event-feed',
  title: `Event feed (${N} watchers of GET /events during a load)`,
  repetitions,
  figures: [
    figure(
      'watchers with the snapshot, every event in order and ready',
      Math.min(...pick('modeldeck', 'completeShare')),
      'share',
      {
        baseline: Math.min(...pick('plain', 'completeShare')),
        baselineLabel: 'plain node:http',
        op: '>=',
        target: 1,
        targetOn: 'value',
      },
    ),
    figure('delivery latency p50', median(pick('modeldeck', 'p50')), 'ms', {
      baseline: median(pick('plain', 'p50')),
      baselineLabel: 'plain node:http broadcast',
      ratio: paired('p50'),
      samples: pick('modeldeck', 'p50'),
    }),
    figure('delivery latency p99', median(pick('modeldeck', 'p99')), 'ms', {
      baseline: median(pick('plain', 'p99')),
      baselineLabel: 'plain node:http broadcast',
      ratio: paired('p99'),
      samples: pick('modeldeck', 'p99'),
      op: '<=',
      target: 1.2,
    }),
    figure('server memory per watcher', median(pick('modeldeck', 'bytesPerWatcher')) / 1024, 'KiB', {
      baseline: median(pick('plain', 'bytesPerWatcher')) / 1024,
      ratio: paired('bytesPerWatcher'),
      baselineLabel: 'plain node:http, Set of responses',
      samples: pick('modeldeck', 'bytesPerWatcher').map((b) => b / 1024),
      op: '<=',
      target: 1.3,
    }),
  ],
  notes: [
    `Scripted loader, ${STEPS + 1} timed frames ${SPACING_MS} ms apart; the load is started by one /load_model ` +
      'request from the server process; all watchers are node:http clients in the bench process, so client-side ' +
      'parsing is in both the figure and its baseline.',
    'Memory: heapUsed + external after global.gc(), in the server process, with the watchers attached versus none.',
    'Both servers run side by side; each repetition measures both, in alternating order; ratios are the median of ' +
      'the per-repetition ratios.',
  ],
});
