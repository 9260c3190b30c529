/**
 * The server side of the event-feed benchmark, in its own process so that its memory is its own. `argv[2]` picks it:
 *
 * - `modeldeck`: the real server (`startServer`) over the fan-out benchmark's scripted loader; watchers are on
 *   `GET /events`, and `start` begins a load with one `/load_model` request made from this process;
 * - `plain`: `node:http`, a `Set` of open responses, one loop writing the same feed frames (`event:`, `id:`, the
 *   same payload bytes) to every response: the least a feed server can do.
 *
 * Requests: `url`; `watchers` → how many are attached; `waitWatchers {n}`; `memory`; `start {model}` (the load
 * begins: `processor` goes out); `go {spacingMs, steps}` → `{emitted: [atMs, …]}` once `ready` went out.
 */

import http from 'node:http';

import { startServer } from '../../dist/server/start.js';
import { encodeSseEvent, encodeSseRetry } from '../../dist/protocol/sse.js';
import { serializeLoadEvent } from '../../dist/protocol/events.js';
import { memoryAfterGc, monoMs, serveParent, sleep, until } from './common.mjs';
import { createScriptedLoader, scriptSteps, wireEvent } from './scripted-load.mjs';

const mode = process.argv[2];
if (mode !== 'modeldeck' && mode !== 'plain') throw new Error('usage: feed-server.mjs modeldeck|plain');

let start;
let go;
let watchers;
let server;
let url;

if (mode === 'modeldeck') {
  const scripted = createScriptedLoader();
  const { loader } = scripted;
  const started = await startServer({ loader, logger: false, backlog: 4096, limits: { maxConnections: 4096 } });
  server = started.app.server;
  url = started.url;
  // Open /events responses (each watcher's snapshot is awaited on the client side before the load starts).
  watchers = () => openFeeds.size;
  const openFeeds = new Set();
  server.on('request', (req, res) => {
    if (req.url !== '/events') return;
    openFeeds.add(res);
    res.on('close', () => openFeeds.delete(res));
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
    const emitted = await run(options);
    await loadBody;
    await sleep(0);
    return emitted;
  };
} else {
  const open = new Set();
  let sequence = 0;
  let model = 'none';
  const frame = (event, data) => encodeSseEvent({ event, id: `plain-${(sequence += 1)}`, data });
  const broadcast = (text) => {
    for (const res of open) res.write(text);
  };
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.write(encodeSseRetry(2000));
    res.write(encodeSseEvent({ event: 'snapshot', id: `plain-${sequence}`, data: JSON.stringify({ models: [] }) }));
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
  url = `http://127.0.0.1:${server.address().port}`;
  watchers = () => open.size;
  start = async ({ model: id }) => {
    model = `${id}@main`;
    broadcast(frame('load', serializeLoadEvent({ status: 'loading', model, stage: 'processor' })));
  };
  go = async ({ spacingMs, steps }) => {
    const emitted = [];
    for (const step of scriptSteps(steps)) {
      await sleep(spacingMs);
      emitted.push(monoMs());
      broadcast(frame('load', serializeLoadEvent(wireEvent(model, step))));
    }
    await sleep(spacingMs);
    emitted.push(monoMs());
    broadcast(frame('load', serializeLoadEvent({ status: 'ready', model, cached: false })));
    return emitted;
  };
}

serveParent({
  url: () => ({ url }),
  watchers: () => ({ n: watchers() }),
  async waitWatchers({ n }) {
    await until(`${n} watchers`, () => watchers() === n, 120_000, 5);
    return {};
  },
  async memory() {
    const usage = await memoryAfterGc();
    return { heapUsed: usage.heapUsed, external: usage.external, rss: usage.rss, watchers: watchers() };
  },
  async start(options) {
    await start(options);
    return {};
  },
  async go(options) {
    return { emitted: await go(options) };
  },
});
process.on('disconnect', () => process.exit(0));
