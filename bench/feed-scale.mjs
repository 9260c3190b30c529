/**
 * Benchmark feed-scale (issue 26): one server, a scripted load, 1,000 / 5,000 / 10,000 watchers of `GET /events` plus
 * 1,000 subscribers of the load's `POST /load_model` (10 / 20 / 30 and 5 in smoke mode), next to a plain `node:http`
 * server writing the same frames to the same number of clients, at each size.
 *
 * - Delivery latency: from the loader's event (in the server process) to each client receiving the frame (in the
 *   client processes), on the shared monotonic clock; p50 and p99 over every watcher (and subscriber) and frame.
 * - Server memory per watcher: heap + external after GC, with the watchers attached versus none.
 * - Server time per frame: from the loader handing a frame over to the last socket write returning.
 * - `GET /health` p99 from another process while the load's frames go out, against the same server idle.
 *
 * `FEED_SIZES=10000` measures only the sizes given; `BENCH_TRACE=1` logs each frame's p50/p99/max at each size.
 *
 * The largest size, where the target is, is measured in three pairs (a fresh pair of servers each, the order
 * alternating), and its delivery p99 ratio is the median of the pairs' ratios: one pair's ratio swung from 0.94 to 1.42
 * between two runs of the same build on a quiet host, with the plain server's own p99 from 215 to 345 ms.
 *
 * The clients run in several processes of their own, so that parsing 11,000 streams is not the server's time; every
 * process that holds thousands of sockets is started with a raised descriptor limit (`forkHelper`'s `fdLimit`:
 * `sh -c 'ulimit -n N && exec node …'`), which must fit under the hard limit (`ulimit -Hn`).
 */

import { execFileSync } from 'node:child_process';

import { benchArgs, figure, forkHelper, log, median, percentile, report, sleep } from './lib/common.mjs';

const { smoke } = benchArgs();
/** `FEED_SIZES=10000` (comma-separated) measures only those sizes: a quicker look at one point of the curve. */
const SIZES = smoke ? [10, 20, 30] : (process.env.FEED_SIZES?.split(',').map(Number) ?? [1000, 5000, 10000]);
const LARGEST = SIZES.at(-1);
const SUBSCRIBERS = smoke ? 5 : 1000;
const CLIENT_PROCESSES = smoke ? 1 : 4;
const STEPS = smoke ? 2 : 10;
/** Pairs measured at the largest size (the first is the curve's). */
const PAIRS_AT_LARGEST = smoke ? 1 : 3;
/** Frames further apart for more clients, so that one frame's writes end before the next (none coalesced: > 100 ms). */
const spacingFor = (n) => Math.round(120 + n * 0.05);
const HEALTH_GAP_MS = 20;
/** Descriptors beyond the sockets: the runtime's own, the IPC channel, the model cache. */
const SPARE_FDS = 1024;

/** The hard limit of open files here, `Infinity` when unlimited. */
function hardFdLimit() {
  const text = execFileSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
}

const serverFds = LARGEST + SUBSCRIBERS + SPARE_FDS;
const clientFds = Math.ceil((LARGEST + SUBSCRIBERS) / CLIENT_PROCESSES) + SPARE_FDS;
const hardLimit = hardFdLimit();
if (hardLimit < serverFds) {
  throw new Error(
    `feed-scale needs ${serverFds} open files in the server process, and the hard limit here is ${hardLimit}: ` +
      'raise it (ulimit -Hn as root, or nofile in /etc/security/limits.conf) and run again',
  );
}

/** `n` split into `parts` nearly equal shares. */
function shares(n, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

const clients = Array.from({ length: CLIENT_PROCESSES }, () =>
  forkHelper('feed-clients-child.mjs', [], { fdLimit: clientFds }),
);
const prober = forkHelper('health-prober.mjs');

/** Asks every client process for its share of `n` (`type` is `watch` or `subscribe`). */
function spread(type, n, message) {
  const each = shares(n, clients.length);
  return Promise.all(clients.map((c, i) => (each[i] > 0 ? c.request({ type, n: each[i], ...message }) : undefined)));
}

const heap = (m) => m.heapUsed + m.external;

/** One size against one server: memory with the watchers, then the load's frames to watchers and subscribers. */
async function measure(server, mode, n) {
  const { url } = await server.request({ type: 'url' });
  // Warm-up: the feed route's first requests compile and allocate what no watcher holds.
  await spread('watch', Math.min(n, 20), { url });
  await Promise.all(clients.map((c) => c.request({ type: 'close' })));
  await server.request({ type: 'waitWatchers', n: 0 });
  let idle;
  if (mode === 'modeldeck') {
    await prober.request({ type: 'start', url, gapMs: HEALTH_GAP_MS });
    await sleep(smoke ? 200 : 1000);
    idle = (await prober.request({ type: 'stop' })).samples.map(([, ms]) => ms);
  }
  const before = await server.request({ type: 'memory' });
  await spread('watch', n, { url });
  await server.request({ type: 'waitWatchers', n });
  const during = await server.request({ type: 'memory' });
  if (mode === 'modeldeck') await prober.request({ type: 'start', url, gapMs: HEALTH_GAP_MS });
  const model = `bench/feed-scale-${n}`;
  await server.request({ type: 'start', model });
  await spread('subscribe', SUBSCRIBERS, { url, model });
  await server.request({ type: 'waitSubscribers', n: SUBSCRIBERS });
  const { emitted, spent, cpuMs, blockMaxMs, blockP99Ms } = await server.request({
    type: 'go',
    spacingMs: spacingFor(n),
    steps: STEPS,
  });
  const parts = await Promise.all(clients.map((c) => c.request({ type: 'collect', emitted, timeoutMs: 60_000 })));
  const health = mode === 'modeldeck' ? (await prober.request({ type: 'stop' })).samples.map(([, ms]) => ms) : [];
  await Promise.all(clients.map((c) => c.request({ type: 'close' })));
  await server.request({ type: 'waitWatchers', n: 0 });
  const all = (who, key) => parts.flatMap((p) => p[who][key]);
  const sum = (who, key) => parts.reduce((total, p) => total + p[who][key], 0);
  const watcherLatencies = all('watchers', 'latencies');
  if (process.env.BENCH_TRACE) {
    // Every watcher has one latency per frame, in order (when every stream was whole).
    const perFrame = emitted.map((_, i) => watcherLatencies.filter((_, j) => j % emitted.length === i));
    const text = perFrame.map((l) => [50, 99, 100].map((q) => percentile(l, q).toFixed(0)).join('/')).join(' ');
    log(`  ${mode} ${n} watchers, per frame, ms p50/p99/max: ${text}`);
  }
  const subscriberLatencies = all('subscribers', 'latencies');
  return {
    n,
    complete: (sum('watchers', 'complete') + sum('subscribers', 'complete')) / (n + SUBSCRIBERS),
    watcherP50: percentile(watcherLatencies, 50),
    watcherP99: percentile(watcherLatencies, 99),
    subscriberP99: percentile(subscriberLatencies, 99),
    bytesPerWatcher: (heap(during) - heap(before)) / n,
    spent: median(spent),
    cpuPerFrame: cpuMs / emitted.length,
    blockMax: blockMaxMs,
    blockP99: blockP99Ms,
    healthP99: percentile(health, 99),
    idleHealthP99: percentile(idle ?? [], 99),
  };
}

/** A pair of servers for up to `n` watchers. */
function startServers(n) {
  return {
    modeldeck: forkHelper('feed-server.mjs', ['modeldeck', String(n + SUBSCRIBERS + 100)], { fdLimit: serverFds }),
    plain: forkHelper('feed-server.mjs', ['plain'], { fdLimit: serverFds }),
  };
}
const closeAll = (helpers) => Promise.all(helpers.map((helper) => helper.close()));

const results = { modeldeck: [], plain: [] };
/** The pairs measured at the largest size, the curve's first. */
const largestPairs = [];
// A fresh pair of servers per size (and per pair at the largest): each size's memory starts from the same place, and
// its connections from fresh ports (the last size's closed ones linger in TIME_WAIT). In smoke mode one pair serves
// every size, in seconds.
let servers;
const rounds = SIZES.flatMap((n) => Array.from({ length: n === LARGEST ? PAIRS_AT_LARGEST : 1 }, () => n));
try {
  for (const [index, n] of rounds.entries()) {
    if (servers !== undefined && !smoke) await closeAll(Object.values(servers));
    if (servers === undefined || !smoke) servers = startServers(smoke ? LARGEST : n);
    const pair = {};
    for (const mode of index % 2 === 0 ? ['modeldeck', 'plain'] : ['plain', 'modeldeck']) {
      const r = await measure(servers[mode], mode, n);
      pair[mode] = r;
      log(
        `feed-scale ${mode} ${n} watchers: p99 ${r.watcherP99.toFixed(1)} ms (subscribers ${r.subscriberP99.toFixed(1)}), ` +
          `${(r.bytesPerWatcher / 1024).toFixed(2)} KiB/watcher, ${r.cpuPerFrame.toFixed(2)} ms CPU/frame, ` +
          `longest block ${r.blockMax.toFixed(1)} ms` +
          `${mode === 'modeldeck' ? `, /health p99 ${r.healthP99.toFixed(1)} ms` : ''}, complete ${r.complete}`,
      );
    }
    if (n === LARGEST) largestPairs.push(pair);
    if (largestPairs.length <= 1) for (const mode of ['modeldeck', 'plain']) results[mode].push(pair[mode]);
  }
} finally {
  await closeAll([...clients, prober, ...Object.values(servers ?? {})]);
}

const at = (mode, n) => results[mode].find((r) => r.n === n);
/** `key` of `mode` in each pair at the largest size. */
const pairsOf = (mode, key) => largestPairs.map((pair) => pair[mode][key]);
/** modeldeck's `key` over plain's, pair by pair at the largest size. */
const pairRatios = (key) => largestPairs.map((pair) => pair.modeldeck[key] / pair.plain[key]);
const count = (n) => n.toLocaleString('en');
const isLargest = (n) => n === LARGEST;
/** Rows of one quantity at every size, the target on the largest. */
function curve(label, key, unit, scale, baselineLabel, target) {
  return SIZES.map((n) =>
    figure(`${label}, ${count(n)} watchers`, at('modeldeck', n)[key] * scale, unit, {
      baseline: at('plain', n)[key] * scale,
      baselineLabel,
      ...(target !== undefined && isLargest(n) ? { op: '<=', target } : {}),
    }),
  );
}
/** Least-squares slope of `key` over the sizes (per watcher). */
function slope(mode, key) {
  const xs = SIZES;
  const ys = SIZES.map((n) => at(mode, n)[key]);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const num = xs.reduce((total, x, i) => total + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((total, x) => total + (x - mx) ** 2, 0);
  return num / den;
}
// Memory in total per size, for the slope: what each added watcher costs once fixed costs are set aside.
for (const mode of ['modeldeck', 'plain']) for (const r of results[mode]) r.bytes = r.bytesPerWatcher * r.n;

await report({
  id: 'feed-scale',
  title: `Feed at scale (${SIZES.map(count).join(' / ')} watchers of GET /events + ${count(SUBSCRIBERS)} /load_model subscribers)`,
  repetitions: 1,
  figures: [
    figure(
      'watchers and subscribers with the whole stream (least of the sizes)',
      Math.min(...results.modeldeck.map((r) => r.complete)),
      'share',
      {
        baseline: Math.min(...results.plain.map((r) => r.complete)),
        baselineLabel: 'plain node:http',
        op: '>=',
        target: 1,
        targetOn: 'value',
      },
    ),
    ...curve('watcher delivery p99', 'watcherP99', 'ms', 1, 'plain node:http broadcast').slice(0, -1),
    figure(`watcher delivery p99, ${count(LARGEST)} watchers`, median(pairsOf('modeldeck', 'watcherP99')), 'ms', {
      baseline: median(pairsOf('plain', 'watcherP99')),
      baselineLabel: `plain node:http broadcast${largestPairs.length > 1 ? ` (median of ${largestPairs.length} pairs)` : ''}`,
      ratio: median(pairRatios('watcherP99')),
      op: '<=',
      target: 1.2,
      samples: pairRatios('watcherP99'),
    }),
    figure(`watcher delivery p50, ${count(LARGEST)} watchers`, at('modeldeck', LARGEST).watcherP50, 'ms', {
      baseline: at('plain', LARGEST).watcherP50,
      baselineLabel: 'plain node:http broadcast',
    }),
    ...curve('subscriber delivery p99', 'subscriberP99', 'ms', 1, 'plain node:http broadcast'),
    ...curve('server memory per watcher', 'bytesPerWatcher', 'KiB', 1 / 1024, 'plain node:http, Set of responses', 1.3),
    figure('server memory per added watcher (slope over the sizes)', slope('modeldeck', 'bytes') / 1024, 'KiB', {
      baseline: slope('plain', 'bytes') / 1024,
      baselineLabel: 'plain node:http, same sizes',
    }),
    ...curve('server CPU time per frame', 'cpuPerFrame', 'ms', 1, 'plain node:http broadcast loop'),
    figure('server CPU time per frame per added watcher (slope)', slope('modeldeck', 'cpuPerFrame') * 1000, 'µs', {
      baseline: slope('plain', 'cpuPerFrame') * 1000,
      baselineLabel: 'plain node:http, same sizes',
    }),
    ...curve('longest event-loop block during the load', 'blockMax', 'ms', 1, 'plain node:http broadcast loop'),
    ...curve('event-loop delay p99 during the load', 'blockP99', 'ms', 1, 'plain node:http broadcast loop'),
    ...curve('server time per frame, synchronous part', 'spent', 'ms', 1, 'plain node:http broadcast loop'),
    ...SIZES.map((n) =>
      figure(`GET /health p99 during the load, ${count(n)} watchers`, at('modeldeck', n).healthP99, 'ms', {
        baseline: at('modeldeck', n).idleHealthP99,
        baselineLabel: 'p99 of the same server idle',
        ...(isLargest(n) ? { op: '<=', target: 50, targetOn: 'value' } : {}),
      }),
    ),
  ],
  notes: [
    `Scripted loader, ${STEPS + 1} timed frames ${SIZES.map(spacingFor).join(' / ')} ms apart at the three sizes; ` +
      `the load is started by one /load_model request from the server process, then ${count(SUBSCRIBERS)} ` +
      `subscribers join it. Clients: ${CLIENT_PROCESSES} node:http processes of their own, the same for both servers.`,
    `Descriptors: the servers are started through sh -c 'ulimit -n ${serverFds}' and each client process through ` +
      `'ulimit -n ${clientFds}' (hard limit here: ${hardLimit}).`,
    `${smoke ? 'One pair of servers for every size (smoke)' : 'A fresh pair of servers per size'}, measured one ` +
      `after the other, the order alternating between sizes; ${PAIRS_AT_LARGEST} pairs at ${count(LARGEST)}, each ` +
      `fresh: delivery p99 ratios ${pairRatios('watcherP99')
        .map((r) => r.toFixed(2))
        .join(', ')} (the figure is ` +
      'their median; every other figure at that size is the first pair’s).',
    'Memory: heapUsed + external after global.gc(), in the server process, with the watchers attached versus none.',
    "CPU time per frame: the server process's user + system time over the whole load and two frame spacings after " +
      'it (the last frames and the closes of the subscribers, which modeldeck sends in later turns) divided by its ' +
      'frames. Event-loop ' +
      'block: monitorEventLoopDelay (1 ms resolution) in the server over the load, the longest delay and its p99. ' +
      "The synchronous part is the loader's call that hands a frame over (modeldeck writes past its first 256 sockets " +
      'in later turns; the plain server writes them all in it).',
    `GET /health: one request at a time every ${HEALTH_GAP_MS} ms from its own process, from the start of the load ` +
      'to the last frame received; its baseline is the same server for 1 s before the watchers came.',
  ],
});
