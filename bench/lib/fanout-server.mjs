/**
 * The server side of the fan-out benchmark, in its own process so that its memory is its own. `argv[2]` picks it:
 *
 * - `modeldeck`: the real server (`startServer`) over a scripted loader, which reports the stage
 *   `processor` at once and the rest of its script when told `go`;
 * - `plain`: the least a server can do: `node:http`, a `Set` of open responses, and one loop that writes the same
 *   frames (same bytes, same serializer) to every response.
 *
 * Both get the same script: one wire frame per step, steps `spacingMs` apart (above the manager's 100 ms progress
 * interval, so none is coalesced), and report when each frame left the loader (`monoMs`, shared between processes).
 *
 * Requests: `url`; `subscribers` → how many are attached; `waitSubscribers {n}`; `memory` → memory after GC and
 * what is still open; `go {spacingMs, steps}` → `{emitted: [atMs, …], spent: [ms, …]}` once the terminal frame went
 * out: when each frame left the loader, and how long the server took to hand each one but the last to every socket
 * (synchronously: past its first batch, modeldeck writes in later turns), plus `startFrameMeter`'s figures over the run.
 */

import http from 'node:http';

import { startServer } from '../../dist/server/start.js';
import { encodeSseEvent } from '../../dist/protocol/sse.js';
import { serializeLoadEvent } from '../../dist/protocol/events.js';
import { memoryAfterGc, monoMs, serveParent, sleep, startFrameMeter, until } from './common.mjs';
import { createScriptedLoader, scriptSteps, wireEvent } from './scripted-load.mjs';

const mode = process.argv[2];
if (mode !== 'modeldeck' && mode !== 'plain') throw new Error('usage: fanout-server.mjs modeldeck|plain');

let go;
let subscribers;
let connections;
let server;

if (mode === 'modeldeck') {
  const scripted = createScriptedLoader();
  const { loader } = scripted;
  const started = await startServer({ loader, logger: false, backlog: 4096, limits: { maxConnections: 4096 } });
  server = started.app.server;
  subscribers = () => started.manager.subscriberCount();
  go = async (options) => {
    const run = scripted.take();
    if (run === undefined) throw new Error('no load is waiting');
    const timing = await run(options);
    // The terminal frame goes out in a promise continuation right after the load resolves.
    await sleep(0);
    return timing;
  };
} else {
  const open = new Set();
  let model = 'none';
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const id = JSON.parse(body).model;
      model = id.includes('@') ? id : `${id}@main`;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.write(encodeSseEvent({ data: serializeLoadEvent({ status: 'loading', model, stage: 'processor' }) }));
      open.add(res);
      res.on('close', () => open.delete(res));
    });
  });
  await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
  subscribers = () => open.size;
  go = async ({ spacingMs, steps }) => {
    const emitted = [];
    const spent = [];
    const broadcast = (event, end) => {
      const frame = encodeSseEvent({ data: serializeLoadEvent(event) });
      for (const res of open) {
        if (end) res.end(frame);
        else res.write(frame);
      }
    };
    for (const step of scriptSteps(steps)) {
      await sleep(spacingMs);
      const at = monoMs();
      emitted.push(at);
      broadcast(wireEvent(model, step), false);
      spent.push(monoMs() - at);
    }
    await sleep(spacingMs);
    emitted.push(monoMs());
    broadcast({ status: 'ready', model, cached: false }, true);
    open.clear();
    return { emitted, spent };
  };
}

connections = () =>
  new Promise((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
const address = server.address();

serveParent({
  url: () => ({ url: `http://127.0.0.1:${address.port}` }),
  subscribers: () => ({ n: subscribers() }),
  async waitSubscribers({ n }) {
    await until(`${n} subscribers`, () => subscribers() === n, 120_000, 5);
    return {};
  },
  async memory() {
    const usage = await memoryAfterGc();
    return {
      heapUsed: usage.heapUsed,
      external: usage.external,
      rss: usage.rss,
      subscribers: subscribers(),
      connections: await connections(),
      handles: process._getActiveHandles().length,
    };
  },
  // The load's frames, with what the process spent sending them (the same meter for both servers).
  async go(options) {
    const meter = startFrameMeter();
    const from = process.hrtime.bigint() / 1000n;
    const timing = await go(options);
    // The closes are part of the load's cost: a server that ends its streams later than the other must not be
    // measured before its closes (bounded: the disconnect run checks what is left).
    const settled = monoMs() + 10_000;
    while ((await connections()) > 0 && monoMs() < settled) await sleep(5);
    const figures = meter.stop();
    // Where the load sits in a CPU profile's clock (microseconds), to cut it there.
    if (process.env.BENCH_TRACE) console.error(`window ${mode} ${from} ${process.hrtime.bigint() / 1000n}`);
    return { ...timing, ...figures };
  },
});
process.on('disconnect', () => process.exit(0));
