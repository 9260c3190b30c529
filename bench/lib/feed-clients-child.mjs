/**
 * Clients of the feed-scale benchmark, in a process of their own (several run at once), so that parsing thousands of
 * streams is not counted as the server's time: watchers of `GET /events` and subscribers of `POST /load_model`, each
 * recording when every frame arrived on the shared monotonic clock (`monoMs`).
 *
 * Requests: `watch {url, n}` opens n watchers and answers once each has its snapshot; `subscribe {url, model, n}`
 * opens n subscribers of one load and answers once each has its first frame; `collect {emitted, timeoutMs}` waits
 * for every frame of the load (or the timeout) and answers the delivery latencies of the frames emitted at `emitted`
 * and how many clients got the whole stream; `close` disconnects them all.
 */

import http from 'node:http';

import { parseLoadEvent } from '../../dist/protocol/events.js';
import { parseFeedEvent, parseFeedId } from '../../dist/protocol/feed.js';
import { createSseParser } from '../../dist/protocol/sse.js';
import { monoMs, serveParent, sleep } from './common.mjs';

/** Connections opened at once (the rest wait for those to get their first frame). */
const BATCH = 100;
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

/** Watchers and subscribers open in this process. */
const clients = { watchers: [], subscribers: [] };

/**
 * One SSE client: `request` is sent with `body`; `parse(fields)` turns each event into what is recorded. `first`
 * resolves on the first event; `ended` once the server ended the response.
 */
function client(url, options, body, parse) {
  const frames = [];
  const controller = new AbortController();
  let resolveFirst;
  let rejectFirst;
  const first = new Promise((resolve, reject) => {
    resolveFirst = resolve;
    rejectFirst = reject;
  });
  first.catch(() => undefined);
  const state = { frames, first, ended: false, close: () => controller.abort() };
  const req = http.request(url, { ...options, agent, signal: controller.signal }, (res) => {
    if (res.statusCode !== 200) {
      rejectFirst(new Error(`${options.method} ${url} answered ${res.statusCode}`));
      res.resume();
      return;
    }
    const parser = createSseParser({
      onEvent: (fields) => {
        const at = monoMs();
        frames.push({ event: parse(fields), at });
        if (frames.length === 1) resolveFirst();
      },
    });
    res.on('data', (chunk) => parser.feed(chunk));
    res.on('end', () => (state.ended = true));
    res.on('error', () => undefined);
  });
  req.on('error', (error) => rejectFirst(error));
  req.end(body);
  return state;
}

function watcher(url) {
  return client(`${url}/events`, { method: 'GET' }, undefined, ({ event = '', id = '', data }) => {
    const parsed = parseFeedEvent(event, id, data);
    if (!parsed.ok) throw new Error(`unreadable feed frame: ${parsed.error}`);
    return parsed.event;
  });
}

function subscriber(url, model) {
  const body = JSON.stringify({ model });
  const headers = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    // Tells the benchmark's servers this is one of the subscribers they count (not the request that starts the load).
    'x-bench-subscriber': '1',
  };
  return client(`${url}/load_model`, { method: 'POST', headers }, body, ({ data }) => {
    const parsed = parseLoadEvent(data);
    if (!parsed.ok) throw new Error(`unparseable frame ${data}`);
    return parsed.event;
  });
}

/** Opens `n` clients made by `open`, `BATCH` at a time, each batch once the one before has its first frames. */
async function openMany(n, open, into) {
  for (let i = 0; i < n; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + BATCH); j += 1) batch.push(open());
    into.push(...batch);
    await Promise.all(batch.map((c) => c.first));
  }
}

/** The stage labels of load events, repeats folded: processor,config,download,weights,ready for a whole load. */
function stages(events) {
  const labels = [];
  for (const e of events) {
    const label = e.status === 'loading' ? e.stage : e.status;
    if (labels.at(-1) !== label) labels.push(label);
  }
  return labels.join(',');
}

const WHOLE_LOAD = 'processor,config,download,weights,ready';

/**
 * A watcher's whole stream: the snapshot, then the load's events in order with increasing ids, `ready` the last of
 * them (modeldeck's feed then announces the process's `memory` and the resident model's `expiry`, which the plain
 * baseline has no reason to: whether they count depended on whether they had arrived when the frames were collected).
 */
const AFTER_READY = new Set(['memory', 'expiry']);
function watcherComplete(frames) {
  const [first, ...rest] = frames.map((f) => f.event);
  if (first?.event !== 'snapshot' || rest.some((e) => e.event !== 'load' && !AFTER_READY.has(e.event))) return false;
  const sequences = frames.map((f) => parseFeedId(f.event.id)?.sequence ?? Number.NaN);
  if (!sequences.every((n, i) => i === 0 || n > sequences[i - 1])) return false;
  const loads = rest.filter((e) => e.event === 'load');
  return stages(loads.map((e) => e.data)) === WHOLE_LOAD;
}

/** A subscriber's whole stream: every stage in order and exactly one terminal event, then the end. */
function subscriberComplete({ frames, ended }) {
  const events = frames.map((f) => f.event);
  return ended && events.filter((e) => e.status !== 'loading').length === 1 && stages(events) === WHOLE_LOAD;
}

/** Latencies (ms, 0.01 ms steps) of the frames after the first `skip` of each client, against `emitted`. */
function latencies(list, emitted, skip) {
  const out = [];
  for (const { frames } of list) {
    emitted.forEach((at, index) => {
      const frame = frames[index + skip];
      if (frame !== undefined) out.push(Math.round((frame.at - at) * 100) / 100);
    });
  }
  return out;
}

serveParent({
  async watch({ url, n }) {
    await openMany(n, () => watcher(url), clients.watchers);
    return {};
  },
  async subscribe({ url, model, n }) {
    await openMany(n, () => subscriber(url, model), clients.subscribers);
    return {};
  },
  async collect({ emitted, timeoutMs }) {
    // Watchers: snapshot, processor, then one frame per emitted step; subscribers: processor, then the same.
    const deadline = monoMs() + timeoutMs;
    const done = () =>
      clients.watchers.every((w) => w.frames.length >= emitted.length + 2) && clients.subscribers.every((s) => s.ended);
    while (!done() && monoMs() < deadline) await sleep(20);
    return {
      watchers: {
        latencies: latencies(clients.watchers, emitted, 2),
        complete: clients.watchers.filter((w) => watcherComplete(w.frames)).length,
        n: clients.watchers.length,
      },
      subscribers: {
        latencies: latencies(clients.subscribers, emitted, 1),
        complete: clients.subscribers.filter(subscriberComplete).length,
        n: clients.subscribers.length,
      },
    };
  },
  close() {
    for (const c of [...clients.watchers, ...clients.subscribers]) c.close();
    clients.watchers = [];
    clients.subscribers = [];
    return {};
  },
});
process.on('disconnect', () => process.exit(0));
