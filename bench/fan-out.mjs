/**
 * Benchmark 4, fan-out: N concurrent `/load_model` subscribers of one load (1,000; 20 in smoke mode).
 *
 * - Every subscriber must get the stage events in order and exactly one terminal event (checked, and reported as the
 *   share of subscribers that did).
 * - Delivery latency: from the loader's event (in the server process) to each subscriber receiving the frame (in this
 *   process), on the shared monotonic clock; p50 and p99 over every subscriber and frame, and the median over frames
 *   of the time until the last subscriber had it.
 * - Server memory per subscriber: heap + external after GC, with N attached versus none.
 * The baseline is `lib/fanout-server.mjs plain`: `node:http` writing the same frames in one loop, same client.
 * `BENCH_TRACE=1` logs each frame's p50/p99/max and the servers' windows of each load (for cutting a CPU profile).
 *
 * Then N subscribers that each disconnect at a random moment of a running load: once all are gone, and again after
 * the load ended, the server's subscriber count, open connections, active handles and heap must be back to what they
 * were before.
 */

import http from 'node:http';

import { createSseParser } from '../dist/protocol/sse.js';
import { parseLoadEvent } from '../dist/protocol/events.js';
import {
  benchArgs,
  figure,
  forkHelper,
  log,
  median,
  monoMs,
  pairedRatio,
  percentile,
  report,
  sleep,
  until,
} from './lib/common.mjs';

const { smoke } = benchArgs();
const N = smoke ? 20 : 1000;
const repetitions = smoke ? 1 : 3;
const STEPS = smoke ? 4 : 10;
const SPACING_MS = 120;
/** Connections opened at once while subscribing (the rest wait for those to get their headers). */
const BATCH = 100;

const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

/**
 * One subscriber: POSTs `/load_model`, records when each frame arrived. `disconnectAt` (ms after `start`) aborts it.
 * Resolves `headers` once the response started; `done` with the transcript.
 */
function subscribe(url, model, disconnectAfterMs) {
  const frames = [];
  const controller = new AbortController();
  let resolveHeaders;
  let rejectHeaders;
  const headers = new Promise((resolve, reject) => {
    resolveHeaders = resolve;
    rejectHeaders = reject;
  });
  const done = new Promise((resolve, reject) => {
    const body = JSON.stringify({ model });
    const req = http.request(`${url}/load_model`, {
      method: 'POST',
      agent,
      signal: controller.signal,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    const fail = (error) => {
      rejectHeaders(error);
      if (controller.signal.aborted) resolve({ frames, aborted: true });
      else reject(error);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        fail(new Error(`/load_model answered ${res.statusCode}`));
        return;
      }
      resolveHeaders();
      const parser = createSseParser({
        onEvent: ({ data }) => {
          const at = monoMs();
          const parsed = parseLoadEvent(data);
          if (!parsed.ok) throw new Error(`unparseable frame ${data}`);
          frames.push({ event: parsed.event, at });
        },
      });
      res.on('data', (chunk) => parser.feed(chunk));
      res.on('end', () => resolve({ frames, aborted: false }));
      res.on('error', fail);
      // An abort after the headers may end the response with neither 'end' nor 'error'.
      res.on('close', () => fail(new Error('the response closed before its end')));
    });
    req.end(body);
  });
  done.catch(() => undefined);
  headers.catch(() => undefined);
  if (disconnectAfterMs !== undefined) setTimeout(() => controller.abort(), disconnectAfterMs).unref();
  return { headers, done };
}

/** Opens `n` subscriptions, `BATCH` at a time. */
async function subscribeMany(url, model, n, disconnectAfter) {
  const subs = [];
  for (let i = 0; i < n; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + BATCH); j += 1) batch.push(subscribe(url, model, disconnectAfter?.(j)));
    await Promise.all(batch.map((s) => s.headers.catch(() => undefined)));
    subs.push(...batch);
  }
  return subs;
}

/** True when a transcript has processor, config, download, weights in order and ends in exactly one terminal. */
function complete(frames) {
  const stages = [];
  for (const { event } of frames) {
    const label = event.status === 'loading' ? event.stage : event.status;
    if (stages.at(-1) !== label) stages.push(label);
  }
  const terminals = frames.filter(({ event }) => event.status !== 'loading').length;
  return terminals === 1 && stages.join(',') === 'processor,config,download,weights,ready';
}

/** One fan-out repetition against `server`; frames after the first (sent at subscribe time) are timed. */
async function fanOut(server, url, rep) {
  const model = `bench/fan-out-${rep}`;
  const before = await server.request({ type: 'memory' });
  const subs = await subscribeMany(url, model, N);
  await server.request({ type: 'waitSubscribers', n: N });
  const during = await server.request({ type: 'memory' });
  const { emitted, spent, cpuMs, blockMaxMs } = await server.request({
    type: 'go',
    spacingMs: SPACING_MS,
    steps: STEPS,
  });
  const transcripts = await Promise.all(subs.map((s) => s.done));
  const completeShare = transcripts.filter((t) => !t.aborted && complete(t.frames)).length / N;
  const latencies = [];
  const lastPerFrame = [];
  emitted.forEach((at, index) => {
    let last = 0;
    for (const { frames } of transcripts) {
      const frame = frames[index + 1];
      if (frame === undefined) continue;
      latencies.push(frame.at - at);
      last = Math.max(last, frame.at - at);
    }
    lastPerFrame.push(last);
  });
  // Each frame's latencies: the last one is `ready`, after which each connection closes.
  const perFrame = emitted.map((at, index) =>
    transcripts.map(({ frames }) => frames[index + 1]?.at - at).filter((ms) => !Number.isNaN(ms)),
  );
  if (process.env.BENCH_TRACE) {
    const text = perFrame.map((l) => [50, 99, 100].map((q) => percentile(l, q).toFixed(0)).join('/')).join(' ');
    log(`  per frame, ms p50/p99/max: ${text}`);
  }
  return {
    completeShare,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    readyP99: percentile(perFrame.at(-1), 99),
    last: median(lastPerFrame),
    spent: median(spent),
    cpuPerFrame: cpuMs / emitted.length,
    blockMax: blockMaxMs,
    bytesPerSubscriber: (during.heapUsed + during.external - before.heapUsed - before.external) / N,
  };
}

/** Subscribers that leave at random moments; what the server holds afterwards. */
async function disconnects(server, url) {
  const model = 'bench/disconnects';
  const duration = (STEPS + 1) * SPACING_MS * 2;
  const before = await server.request({ type: 'memory' });
  // Some leave while subscribing, most while events flow; all before the load ends.
  const leaveAt = (index) => Math.floor((((index * 7919) % N) / N) * duration * 0.7);
  const started = monoMs();
  const subs = await subscribeMany(url, model, N, leaveAt);
  const loading = server.request({ type: 'go', spacingMs: SPACING_MS * 2, steps: STEPS });
  await Promise.all(subs.map((s) => s.done));
  await until(
    'the server to see every disconnect',
    async () => {
      const { n } = await server.request({ type: 'subscribers' });
      return n === 0;
    },
    30_000,
    20,
  );
  const whileLoading = await server.request({ type: 'memory' });
  const stillLoading = monoMs() - started < duration;
  await loading;
  await sleep(100);
  const after = await server.request({ type: 'memory' });
  return { before, whileLoading, after, stillLoading };
}

// Both servers run side by side and each repetition measures both, in alternating order: the machine's speed drifts,
// and a ratio of two things measured back to back means more than two halves of a run (the event feed's method).
const results = { modeldeck: { reps: [] }, plain: { reps: [] } };
const servers = {
  modeldeck: forkHelper('fanout-server.mjs', ['modeldeck']),
  plain: forkHelper('fanout-server.mjs', ['plain']),
};
try {
  const urls = {};
  for (const mode of ['modeldeck', 'plain']) {
    urls[mode] = (await servers[mode].request({ type: 'url' })).url;
    // Warm-up: the same flow, so lazy initialisation is not counted as per-subscriber memory.
    await fanOut(servers[mode], urls[mode], `warm-up-${mode}`);
  }
  for (let rep = 0; rep < repetitions; rep += 1) {
    for (const mode of rep % 2 === 0 ? ['modeldeck', 'plain'] : ['plain', 'modeldeck']) {
      const r = await fanOut(servers[mode], urls[mode], `${mode}-${rep}`);
      results[mode].reps.push(r);
      log(
        `fan-out ${mode} rep ${rep + 1}/${repetitions}: p99 ${r.p99.toFixed(1)} ms, ${r.spent.toFixed(2)} ms/frame in the server, ${(r.bytesPerSubscriber / 1024).toFixed(1)} KiB/subscriber, complete ${r.completeShare}`,
      );
    }
  }
  results.modeldeck.disconnects = await disconnects(servers.modeldeck, urls.modeldeck);
} finally {
  await Promise.all(Object.values(servers).map((server) => server.close()));
}

const pick = (mode, key) => results[mode].reps.map((r) => r[key]);
const paired = (key) => pairedRatio(pick('modeldeck', key), pick('plain', key));
/** A figure of modeldeck's runs against the plain server's in the same runs: medians, the paired ratio, the samples. */
const versus = (label, key, unit, baselineLabel, more = {}) =>
  figure(label, median(pick('modeldeck', key)), unit, {
    baseline: median(pick('plain', key)),
    baselineLabel,
    ratio: paired(key),
    samples: pick('modeldeck', key),
    ...more,
  });
const d = results.modeldeck.disconnects;
const heap = (m) => m.heapUsed + m.external;
await report({
  id: 'fan-out',
  title: `Fan-out (${N} subscribers)`,
  repetitions,
  figures: [
    figure('subscribers with every stage and one terminal', Math.min(...pick('modeldeck', 'completeShare')), 'share', {
      baseline: Math.min(...pick('plain', 'completeShare')),
      baselineLabel: 'plain node:http',
      op: '>=',
      target: 1,
      targetOn: 'value',
    }),
    versus('delivery latency p50', 'p50', 'ms', 'plain node:http broadcast'),
    versus('delivery latency p99', 'p99', 'ms', 'plain node:http broadcast', { op: '<=', target: 1.2 }),
    versus(
      'delivery latency p99 of the ready frame (each connection closes after it)',
      'readyP99',
      'ms',
      'plain node:http broadcast',
    ),
    versus('event to last subscriber (median frame)', 'last', 'ms', 'plain node:http broadcast'),
    versus(
      'server CPU time per frame (user + system over the load / frames)',
      'cpuPerFrame',
      'ms',
      'plain node:http broadcast loop',
    ),
    versus('longest event-loop block during the load', 'blockMax', 'ms', 'plain node:http broadcast loop'),
    versus(
      'server time to hand a frame to every subscriber (synchronous part)',
      'spent',
      'ms',
      'plain node:http broadcast loop',
    ),
    figure('server memory per subscriber', median(pick('modeldeck', 'bytesPerSubscriber')) / 1024, 'KiB', {
      baseline: median(pick('plain', 'bytesPerSubscriber')) / 1024,
      baselineLabel: 'plain node:http, Set of responses',
      ratio: paired('bytesPerSubscriber'),
      samples: pick('modeldeck', 'bytesPerSubscriber').map((b) => b / 1024),
    }),
    figure('subscribers left after random disconnects', d.whileLoading.subscribers, 'count', {
      op: '<=',
      target: 0,
      targetOn: 'value',
    }),
    figure('open connections left after random disconnects', d.whileLoading.connections, 'count', {
      op: '<=',
      target: 0,
      targetOn: 'value',
    }),
    figure('active handles after the load', d.after.handles, 'count', {
      baseline: d.before.handles,
      baselineLabel: 'before the disconnect run',
      op: '<=',
      target: 1,
    }),
    figure('heap + external after random disconnects', heap(d.whileLoading) / 2 ** 20, 'MiB', {
      baseline: heap(d.before) / 2 ** 20,
      baselineLabel: 'before the disconnect run',
      op: '<=',
      target: 1.05,
    }),
    figure('heap + external after the load ended', heap(d.after) / 2 ** 20, 'MiB', {
      baseline: heap(d.before) / 2 ** 20,
      baselineLabel: 'before the disconnect run',
      op: '<=',
      target: 1.05,
    }),
  ],
  notes: [
    `Scripted loader, ${STEPS + 1} timed frames ${SPACING_MS} ms apart (processor is sent on subscribe); the server ` +
      'runs in its own process; all subscribers are node:http clients in the bench process, so client-side parsing ' +
      'is in both the figure and its baseline. Both servers run side by side; each repetition measures both, in ' +
      'alternating order; ratios are the median of the per-repetition ratios.',
    'Server time: from the loader handing a frame over to the last socket write returning, in the server process ' +
      '(the median over frames): serialisation and writes, without the network or the client. Server CPU time: ' +
      'from the first frame until every connection of the load has closed, so the closes count for both servers.',
    `Disconnect run: ${N} subscribers leaving at spread-out moments over 70% of a ` +
      `${((STEPS + 1) * SPACING_MS * 2) / 1000} s load; counts taken ${d.stillLoading ? 'while the load was still running' : 'after the load had already ended (slow machine)'}.`,
    'Memory: heapUsed + external after global.gc(), in the server process; heap targets (<= 1.05 of before) are ' +
      'this benchmark\'s reading of "back to baseline".',
  ],
});
