/**
 * Benchmark: what the wire tap costs a stream. A local node:http server writes N `/load_model`-shaped frames (50,000;
 * 500 in smoke mode) as fast as the socket takes them; the client reads the whole stream with `fetch` and the
 * protocol's SSE parser, once through the dashboard's wire tap and journal (every line recorded with its ending and
 * time, frames linted) and once with the plain `fetch`, alternating.
 */

import http from 'node:http';

import { createWireJournal } from '../dist/client/wire-journal.js';
import { createWireTap } from '../dist/client/wire-tap.js';
import { createSseParser } from '../dist/protocol/sse.js';
import { benchArgs, figure, log, median, monoMs, pairedRatio, report } from './lib/common.mjs';

const { smoke } = benchArgs();
const N = smoke ? 500 : 50_000;
const repetitions = smoke ? 1 : 5;

const frame = (i) =>
  `data: {"status": "loading", "model": "modeldeck/tiny-chat@main", "stage": "download", ` +
  `"progress": {"current": ${i}, "total": ${N}}}\n\n`;
const body =
  Array.from({ length: N }, (_, i) => frame(i + 1)).join('') +
  'data: {"status": "ready", "model": "modeldeck/tiny-chat@main", "cached": false}\n\n';

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  // 64 KiB writes: the socket, not this loop, sets the pace.
  let at = 0;
  const next = () => {
    while (at < body.length) {
      const chunk = body.slice(at, at + 65_536);
      at += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', next);
    }
    res.end();
  };
  next();
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/load_model`;

/** Reads the whole stream; resolves with the milliseconds it took and the events parsed. */
async function read(doFetch) {
  const started = monoMs();
  let events = 0;
  const parser = createSseParser({ onEvent: () => (events += 1) });
  const res = await doFetch(url, { method: 'POST', body: '{}' });
  for await (const chunk of res.body) parser.feed(chunk);
  parser.end();
  if (events !== N + 1) throw new Error(`read ${events} events, expected ${N + 1}`);
  return monoMs() - started;
}

const plain = [];
const tapped = [];
let entries = 0;
for (let r = 0; r < repetitions; r += 1) {
  const journal = createWireJournal({ onEntry: () => (entries += 1) });
  const tap = createWireTap({ onRecord: (record) => journal.feed(record), now: monoMs });
  const order = r % 2 === 0 ? ['plain', 'tapped'] : ['tapped', 'plain'];
  for (const which of order) {
    if (which === 'plain') plain.push(await read(fetch));
    else tapped.push(await read(tap.fetchFor('s1 load')));
  }
  log(`repetition ${r + 1}: plain ${plain.at(-1).toFixed(0)} ms, tapped ${tapped.at(-1).toFixed(0)} ms`);
}
server.close();

const mbPerSecond = (ms) => body.length / 1e6 / (ms / 1000);
await report({
  id: 'wire-tap',
  title: `Wire tap: ${N.toLocaleString('en')} frames read through the tap and journal vs plain fetch`,
  repetitions,
  figures: [
    figure('stream read time', median(tapped), 'ms', {
      baseline: median(plain),
      baselineLabel: 'plain fetch + SSE parser',
      ratio: pairedRatio(tapped, plain),
      samples: tapped,
    }),
    figure('throughput through the tap', mbPerSecond(median(tapped)), 'MB/s', {
      baseline: mbPerSecond(median(plain)),
      baselineLabel: 'plain fetch + SSE parser',
    }),
  ],
  notes: [
    `${(body.length / 1e6).toFixed(1)} MB per stream from a loopback node:http server, written in 64 KiB chunks; ` +
      `the tapped read records ${entries / repetitions} journal entries per stream (every line with its ending ` +
      'and arrival time, /load_model frames linted), as the dashboard does.',
    "At the dashboard's real rates (at most ~10 progress frames a second per stream) the tap's cost per frame is " +
      'what matters: the read time difference divided by the frame count.',
  ],
});
