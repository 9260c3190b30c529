/**
 * Benchmark 6, dashboard ingest: a synthetic server (its own process) streams `download` events to four sessions of
 * the real dashboard, which renders to a fake terminal (PassThrough streams that report a TTY of 160×48), with the
 * server view open (`v`: the server's pane, its charts and the sessions' throughput sparklines all drawn). Offered
 * load: 5,000 events a second in all, 100,000 events. Measured in the dashboard's process:
 *
 * - frames drawn per second (a frame is one burst of terminal writes), target at most ~30;
 * - event-to-screen latency: the stamp (`"t"`) of the newest event a frame shows (the log pane's last line: the log
 *   holds what was ingested when the draw began) against the time of the frame's first write;
 * - key echo under load: a key typed into the input line until the terminal receives it, against the same with no
 *   load (the baseline), target p99 under 50 ms;
 * - keeping up: the offered duration over the time until the last event reached the screen (1 = kept up);
 * - CPU share of one core; heap (after GC) after 100,000 events against the heap a fifth of the way in, when the
 *   bounded log is long full (flat: target at most 1.1), and against the heap before the sessions opened.
 */

import { fork } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { startDashboard } from '../dist/tui/dashboard.js';
import { keyEcho } from './lib/key-echo.mjs';
import { benchArgs, figure, log, median, memoryAfterGc, monoMs, percentile, report, sleep } from './lib/common.mjs';

const { smoke } = benchArgs();
const SESSIONS = 4;
const TOTAL_RATE = smoke ? 1000 : 5000;
const TOTAL_EVENTS = smoke ? 2000 : 100_000;
const PER_STREAM = TOTAL_EVENTS / SESSIONS;
const STREAM_RATE = TOTAL_RATE / SESSIONS;

/** A dashboard on a fake terminal, with hooks on what it writes. */
function fakeDashboard(sessions) {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input });
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 48 });
  output.resume();
  const watchers = new Set();
  const frameWatchers = new Set();
  let frames = 0;
  let inFrame = false;
  let dash;
  const write = output.write.bind(output);
  output.write = (chunk, ...rest) => {
    const at = monoMs();
    if (!inFrame) {
      inFrame = true;
      frames += 1;
      setImmediate(() => (inFrame = false));
      // Single-threaded: whatever the log held when this draw began is what the frame shows.
      if (dash) for (const watch of frameWatchers) watch(dash, at);
    }
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    for (const watch of watchers) watch(text, at);
    return write(chunk, ...rest);
  };
  dash = startDashboard({ sessions, input, output, logLines: 5000 });
  return { dash, input, watchers, frameWatchers, frames: () => frames };
}

async function probeKeys(term, count, gapMs) {
  const samples = [];
  for (let i = 0; i < count; i += 1) {
    const ms = await keyEcho(term, i % 2 === 0 ? '~' : '^');
    if (Number.isFinite(ms)) samples.push(ms);
    await sleep(gapMs);
  }
  return samples;
}

async function main() {
  const server = fork(fileURLToPath(new URL('./lib/event-server.mjs', import.meta.url)), [
    String(PER_STREAM),
    String(STREAM_RATE),
  ]);
  const url = await new Promise((resolve) => server.on('message', (m) => m.type === 'listening' && resolve(m.url)));
  try {
    // Baseline: key echo on an idle dashboard (sessions that fail at once against a closed port).
    const idle = fakeDashboard([{ server: 'http://127.0.0.1:9', model: 'bench/idle' }]);
    await sleep(300);
    idle.input.write('\r');
    await sleep(100);
    const idleKeys = await probeKeys(idle, smoke ? 10 : 40, 20);
    idle.dash.shutdown();
    await idle.dash.closed;

    const heapBefore = await memoryAfterGc();
    const sessions = Array.from({ length: SESSIONS }, (_, i) => ({ server: url, model: `bench/s${i + 1}` }));
    const term = fakeDashboard(sessions);
    // The server view and its charts open, then type into the focused session's input line.
    if (!process.env.NO_V) term.input.write('v');
    term.input.write('\r');
    const latencies = [];
    let newest = 0;
    let lastOnScreen = 0;
    term.frameWatchers.add((dash, at) => {
      const entries = dash.logEntries();
      for (let i = entries.length - 1; i >= 0 && i >= entries.length - 8; i -= 1) {
        const stamp = /"t": (\d+(?:\.\d+)?)/.exec(entries[i].raw);
        if (!stamp) continue;
        const t = Number(stamp[1]);
        if (t > newest) {
          newest = t;
          latencies.push(at - t);
          lastOnScreen = at;
        }
        break;
      }
    });
    const cpuBefore = process.cpuUsage();
    const started = monoMs();
    const framesBefore = term.frames();
    const offeredMs = (TOTAL_EVENTS / TOTAL_RATE) * 1000;
    // A fifth of the way in, the bounded log (5,000 lines) has long been full: the heap then is what it should stay at.
    // Measured before the key probes start, so the collection's pause is not in their figures.
    await sleep(offeredMs * 0.2);
    const heapMid = await memoryAfterGc();
    const eventsMid = Math.round(TOTAL_EVENTS * 0.2);
    const keysUnderLoad = probeKeys(term, smoke ? 10 : 60, 150);
    // Wait for every session to reach ready (the last event of each stream then has been ingested).
    for (;;) {
      const states = term.dash.sessions();
      if (states.length === SESSIONS && states.every((s) => s.phase === 'ready')) break;
      if (monoMs() - started > offeredMs * 4 + 30_000) throw new Error('the dashboard did not finish ingesting');
      await sleep(50);
    }
    const elapsedMs = monoMs() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const frames = term.frames() - framesBefore;
    const keyLoad = await keysUnderLoad;
    await sleep(200);
    const heapAfter = await memoryAfterGc();
    term.dash.shutdown();
    await term.dash.closed;

    const fps = frames / (elapsedMs / 1000);
    const cpuShare = (cpu.user + cpu.system) / 1000 / elapsedMs;
    const keptUp = offeredMs / Math.max(offeredMs, (lastOnScreen || monoMs()) - started);
    log(
      `${TOTAL_EVENTS} events in ${(elapsedMs / 1000).toFixed(1)} s, ${frames} frames, ${latencies.length} latency samples`,
    );
    await report({
      id: 'dashboard-ingest',
      title: `Dashboard ingest (${TOTAL_RATE.toLocaleString('en')} events/s over ${SESSIONS} sessions, ${TOTAL_EVENTS.toLocaleString('en')} events)`,
      repetitions: 1,
      figures: [
        figure('frames drawn per second', fps, 'fps', { op: '<=', target: 33 }),
        figure('keeping up (offered time / time to last event on screen)', keptUp, 'ratio', { op: '>=', target: 0.95 }),
        figure('event-to-screen latency p50', median(latencies), 'ms'),
        figure('event-to-screen latency p99', percentile(latencies, 99), 'ms'),
        figure('key echo p99 under load', percentile(keyLoad, 99), 'ms', {
          baseline: percentile(idleKeys, 99),
          baselineLabel: 'key echo p99, idle dashboard',
          op: '<=',
          target: 50,
          targetOn: 'value',
        }),
        figure('key echo p50 under load', median(keyLoad), 'ms', {
          baseline: median(idleKeys),
          baselineLabel: 'key echo p50, idle dashboard',
        }),
        figure('CPU share of one core while ingesting', cpuShare, 'fraction'),
        figure(`heap after ${TOTAL_EVENTS.toLocaleString('en')} events (flat)`, heapAfter.heapUsed / 1e6, 'MB', {
          baseline: heapMid.heapUsed / 1e6,
          baselineLabel: `after ${eventsMid.toLocaleString('en')} events, log full`,
          op: '<=',
          target: 1.1,
        }),
        figure(`heap after ${TOTAL_EVENTS.toLocaleString('en')} events`, heapAfter.heapUsed / 1e6, 'MB', {
          baseline: heapBefore.heapUsed / 1e6,
          baselineLabel: 'before the sessions opened',
        }),
      ],
      notes: [
        'A frame is one burst of writes to the fake terminal; latency compares monotonic clocks across processes.',
        `Key echo probes: ${keyLoad.length} under load, ${idleKeys.length} idle.`,
      ],
    });
  } finally {
    server.kill();
  }
}

await main();
