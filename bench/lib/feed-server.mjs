/**
 * The server side of the event-feed benchmark, in its own process so that its memory is its own. `argv[2]` picks it:
 *
 * - `modeldeck`: the real server (`startServer`) over the fan-out benchmark's scripted loader; watchers are on
 *   `GET /events`, and `start` begins a load with one `/load_model` request made from this process;
 * - `plain`: `node:http`, a `Set` of open responses, one loop writing the same feed frames (`event:`, `id:`, the
 *   same payload bytes) to every response: the least a feed server can do. A `POST /load_model` there gets the
 *   `/load_model` frames of the same load (the fan-out benchmark's baseline), written in the same loop.
 *
 * `argv[3]`, optional: the modeldeck server's connection cap (`serve --max-connections`; 4096 when absent).
 *
 * Requests: `url`; `snapshot {path}` → a heap snapshot after GC written there; `watchers` → how many are attached; `waitWatchers {n}`; `subscribers` → how many `/load_model`
 * requests marked `x-bench-subscriber` are attached; `waitSubscribers {n}`; `memory`; `start {model}` (the load
 * begins: `processor` goes out); `go {spacingMs, steps}` → `{emitted: [atMs, …], spent: [ms, …]}` once `ready` went
 * out: when each frame left the loader, and how long the server took to hand each one but the last to every socket
 * (synchronously: past its first batch, modeldeck writes in later turns), plus `startFrameMeter`'s figures over the run.
 */

import http from 'node:http';
import { writeHeapSnapshot } from 'node:v8';

import { startServer } from '../../dist/server/start.js';
import { encodeSseEvent, encodeSseRetry } from '../../dist/protocol/sse.js';
import { serializeLoadEvent } from '../../dist/protocol/events.js';
import { memoryAfterGc, monoMs, serveParent, sleep, startFrameMeter, until } from './common.mjs';
import { createScriptedLoader, scriptSteps, wireEvent } from './scripted-load.mjs';

const mode = process.argv[2];
if (mode !== 'modeldeck' && mode !== 'plain') throw new Error('usage: feed-server.mjs modeldeck|plain [CAP]');
const maxConnections = Number(process.argv[3] ?? 4096);

let start;
let go;
let watchers;
let subscribers;
let server;
let url;

if (mode === 'modeldeck') {
  const scripted = createScriptedLoader();
  const { loader } = scripted;
  const started = await startServer({ loader, logger: false, backlog: 4096, limits: { maxConnections } });
  server = started.app.server;
  url = started.url;
  // Open /events responses (each watcher's snapshot is awaited on the client side before the load starts), and the
  // benchmark's /load_model subscribers (not the request that starts the load).
  const openFeeds = new Set();
  const openLoads = new Set();
  watchers = () => openFeeds.size;
  subscribers = () => openLoads.size;
  server.on('request', (req, res) => {
    const open = req.url === '/events' ? openFeeds : req.headers['x-bench-subscriber'] ? openLoads : undefined;
    if (open === undefined) return;
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  let loadBody;
  start = async ({ model }) => {
    const res = await fetch(`${url}/load_model`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model }),
    });
    loadBody = res.text();
    await until('the load to start', () => scripted.waiting(), 10_000, 2);
  };
  go = async (options) => {
    const run = scripted.take();
    const timing = await run(options);
    await loadBody;
    await sleep(0);
    return timing;
  };
} else {
  const open = new Set();
  const loads = new Set();
  let sequence = 0;
  let model = 'none';
  const processor = () => ({ status: 'loading', model, stage: 'processor' });
  const frame = (event, data) => encodeSseEvent({ event, id: `plain-${(sequence += 1)}`, data });
  // The feed frame to every watcher, the load frame to every subscriber; `ready` ends the subscribers' responses.
  const broadcast = (event) => {
    const data = serializeLoadEvent(event);
    const text = frame('load', data);
    for (const res of open) res.write(text);
    const load = encodeSseEvent({ data });
    const end = event.status !== 'loading';
    for (const res of loads) {
      if (end) res.end(load);
      else res.write(load);
    }
    if (end) loads.clear();
  };
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    if (req.url === '/load_model') {
      req.resume();
      res.write(encodeSseEvent({ data: serializeLoadEvent(processor()) }));
      loads.add(res);
      res.on('close', () => loads.delete(res));
      return;
    }
    res.write(encodeSseRetry(2000));
    res.write(encodeSseEvent({ event: 'snapshot', id: `plain-${sequence}`, data: JSON.stringify({ models: [] }) }));
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
  url = `http://127.0.0.1:${server.address().port}`;
  watchers = () => open.size;
  subscribers = () => loads.size;
  start = async ({ model: id }) => {
    model = `${id}@main`;
    broadcast(processor());
  };
  go = async ({ spacingMs, steps }) => {
    const emitted = [];
    const spent = [];
    for (const step of scriptSteps(steps)) {
      await sleep(spacingMs);
      const at = monoMs();
      emitted.push(at);
      broadcast(wireEvent(model, step));
      spent.push(monoMs() - at);
    }
    await sleep(spacingMs);
    emitted.push(monoMs());
    broadcast({ status: 'ready', model, cached: false });
    return { emitted, spent };
  };
}

serveParent({
  url: () => ({ url }),
  watchers: () => ({ n: watchers() }),
  async waitWatchers({ n }) {
    await until(`${n} watchers`, () => watchers() === n, 120_000, 5);
    return {};
  },
  subscribers: () => ({ n: subscribers() }),
  async waitSubscribers({ n }) {
    await until(`${n} subscribers`, () => subscribers() === n, 120_000, 5);
    return {};
  },
  async memory() {
    const usage = await memoryAfterGc();
    return { heapUsed: usage.heapUsed, external: usage.external, rss: usage.rss, watchers: watchers() };
  },
  /** `snapshot {path}`: a heap snapshot after GC, to see what a watcher is made of (scratch, not in the report). */
  async snapshot({ path }) {
    await memoryAfterGc();
    return { path: writeHeapSnapshot(path) };
  },
  async start(options) {
    await start(options);
    return {};
  },
  // The load's frames, with what the process spent sending them (the same meter for both servers).
  async go(options) {
    const meter = startFrameMeter();
    const from = process.hrtime.bigint() / 1000n;
    const timing = await go(options);
    // The last frames and the subscribers' closes are part of the load's cost, and modeldeck sends them in later
    // turns: both servers are measured for two spacings more (no frame goes out then in either).
    await sleep(options.spacingMs * 2);
    const figures = meter.stop();
    // Where the load sits in a CPU profile's clock (microseconds), to cut it there.
    if (process.env.BENCH_TRACE) console.error(`window ${mode} ${from} ${process.hrtime.bigint() / 1000n}`);
    return { ...timing, ...figures };
  },
});
process.on('disconnect', () => process.exit(0));
