/**
 * Benchmark 14 (issue 26), a fleet: the real dashboard on a fake 200×60 terminal with its sessions spread over 20
 * modeldeck servers, each in a process of its own (`lib/fleet-server.mjs`: the real server over a scripted loader),
 * at 10, 50 and 100 sessions. Half the sessions load for the whole run (`download` progress, 10 events a second
 * each, on the load stream and on the server's `/events` feed the dashboard watches); the other half load in two
 * seconds and are then sent a message each, typed as a person types it, whose reply streams at 20 tokens a second.
 * Measured in the dashboard's process, at each size:
 *
 * - CPU share of one core over a steady window (target at 100 sessions ≤ 0.5);
 * - key echo: a key typed into a session's input until the terminal receives it (p99 at 100 sessions < 50 ms), next
 *   to the same on an idle dashboard;
 * - heap + external after GC with the sessions open: memory per session is the slope over the three sizes (≤ 1 MB);
 * - frames drawn per second.
 *
 * And once: the first frame showing all 100 configured sessions, from the start of a process that runs the dashboard
 * command with a config of 100 sessions (≤ 1.5 s), next to the same with one session.
 *
 * `FLEET_SIZES=50,100` in the environment measures other sizes (to profile one of them with `--profile`).
 *
 * The 20 servers stand in for GPU boxes elsewhere, but here they share the dashboard's two cores: they run at nice
 * 10 (`FLEET_NICE`, 0 for the dashboard's own priority), so that they take the cycles the dashboard leaves and a key
 * does not wait behind twenty runnable servers for a core (at the same priority, a key that cost the dashboard 16 ms
 * of CPU reached the screen after 129 ms). Each key's echo says how much of its time was the dashboard's CPU.
 */

import { fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { startDashboard } from '../dist/tui/dashboard.js';
import { keyEcho, KEYS, MISSED_MS } from './lib/key-echo.mjs';
import {
  benchArgs,
  figure,
  forkHelper,
  log,
  median,
  memoryAfterGc,
  monoMs,
  percentile,
  postJson,
  report,
  sleep,
  tempDir,
  until,
} from './lib/common.mjs';

const { smoke } = benchArgs();
const SERVERS = smoke ? 2 : 20;
const SIZES = process.env.FLEET_SIZES
  ? process.env.FLEET_SIZES.split(',').map(Number)
  : smoke
    ? [2, 4, 6]
    : [10, 50, 100];
const WINDOW_MS = smoke ? 300 : 10_000;
const PROBES = smoke ? 3 : 60;
const PROBE_GAP_MS = smoke ? 20 : 150;
const FIRST_FRAME_RUNS = smoke ? 1 : 3;
/** Long enough to outlast a size's whole measurement; unloaded (cancelled) after it. */
const LONG_LOAD_S = 600;
const CHAT_LOAD_S = smoke ? 0.2 : 2;
const NICE = process.env.FLEET_NICE === undefined ? 10 : Number(process.env.FLEET_NICE);
const COLUMNS = 200;
const ROWS = 60;

/** A dashboard on a fake 200×60 terminal, with hooks on what it writes. */
function fakeDashboard(sessions) {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input });
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: COLUMNS, rows: ROWS });
  output.resume();
  const watchers = new Set();
  // CPU ms of this process from a probe key's handler until its echo is written: the rest of the wait was for a core.
  const keyCpu = [];
  let cpuAtKey = null;
  let frames = 0;
  let inFrame = false;
  const write = output.write.bind(output);
  output.write = (chunk, ...rest) => {
    const at = monoMs();
    if (!inFrame) {
      inFrame = true;
      frames += 1;
      setImmediate(() => (inFrame = false));
    }
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (cpuAtKey !== null && KEYS.test(text)) {
      const cpu = process.cpuUsage(cpuAtKey);
      keyCpu.push((cpu.user + cpu.system) / 1000);
      cpuAtKey = null;
    }
    for (const watch of watchers) watch(text, at);
    return write(chunk, ...rest);
  };
  const dash = startDashboard({ sessions, input, output });
  // Added after the dashboard's own: called once its key handler has run (blessed handles a key synchronously).
  const handled = [];
  input.on('data', (chunk) => {
    if (KEYS.test(String(chunk))) {
      handled.push(monoMs());
      cpuAtKey = process.cpuUsage();
    }
  });
  return { dash, input, watchers, handled, keyCpu, frames: () => frames };
}

/**
 * Key echo samples, ms; a key never shown counts as the 2 s waited for it (and is counted in `missed`). Beside each,
 * how it was spent: `toHandler`, from the key typed until the dashboard's key handler had run; the rest is the wait
 * for its frame and the frame itself.
 */
async function probeKeys(term, count) {
  const samples = [];
  const toHandler = [];
  const toScreen = [];
  const cpuToScreen = [];
  for (let i = 0; i < count; i += 1) {
    term.handled.length = 0;
    term.keyCpu.length = 0;
    const typed = monoMs();
    const ms = await keyEcho(term, i % 2 === 0 ? '~' : '^');
    samples.push(Number.isFinite(ms) ? ms : MISSED_MS);
    if (term.handled[0] !== undefined && Number.isFinite(ms)) {
      toHandler.push(term.handled[0] - typed);
      toScreen.push(typed + ms - term.handled[0]);
      if (term.keyCpu[0] !== undefined) cpuToScreen.push(term.keyCpu[0]);
    }
    await sleep(PROBE_GAP_MS);
  }
  return Object.assign(samples, { toHandler, toScreen, cpuToScreen });
}

const missed = (samples) => samples.filter((ms) => ms === MISSED_MS).length;

/** Bytes of a scripted load, and of one of its progress events (`lib/fleet-server.mjs`: one every 100 ms). */
const LOAD_BYTES = 500_000_000;
const PROGRESS_BYTES = LOAD_BYTES / ((LONG_LOAD_S * 1000) / 100);

/**
 * The stream events the sessions have taken in so far, read from what they show: reply tokens (`token`, then
 * ` token`: about 6 characters each) and the long loads' progress events (each also comes on the server's feed, so
 * counted twice). A loaded host slows the scripted servers, so the events of a window vary from run to run: CPU per
 * event is the figure that compares two builds.
 */
function eventsTaken(states) {
  let tokens = 0;
  let progress = 0;
  for (const s of states) {
    for (const e of s.transcript) if (e.role === 'assistant') tokens += e.content.length / 6;
    if (s.phase === 'loading' && s.download !== null) progress += s.download.current / PROGRESS_BYTES;
  }
  return tokens + 2 * progress;
}

/** Session `i` of a fleet of `n`: the first half chat, the second half load for the whole run. */
function sessionSpec(urls, n, i, label) {
  const chat = i < Math.ceil(n / 2);
  return {
    server: urls[i % urls.length],
    model: `fleet/${label}-s${i + 1}-load${chat ? CHAT_LOAD_S : LONG_LOAD_S}s`,
    chat: { maxTokens: 4096 },
  };
}

/** Opens `n` sessions, sends a message to each chat session, measures, and closes them again. */
/** CPU ms the fleet's server processes have used so far, all together. */
async function serversCpuMs(helpers) {
  const replies = await Promise.all(helpers.map((h) => h.request({ type: 'cpu' })));
  return replies.reduce((sum, reply) => sum + reply.ms, 0);
}

async function measureSize(helpers, urls, n, round) {
  const specs = Array.from({ length: n }, (_, i) => sessionSpec(urls, n, i, `r${round}n${n}`));
  const chats = Math.ceil(n / 2);
  const heapEmpty = await memoryAfterGc();
  const term = fakeDashboard(specs);
  try {
    await until(
      `${chats} chat sessions ready`,
      () =>
        term.dash
          .sessions()
          .slice(0, chats)
          .every((s) => s.phase === 'ready'),
      60_000,
      50,
    );
    // As a person does it: Enter to type, the message, Enter to send, Esc, Tab to the next session.
    for (let i = 0; i < chats; i += 1) {
      term.input.write('\r');
      term.input.write('go on');
      term.input.write('\r');
      term.input.write('\x1b');
      await sleep(20);
      term.input.write('\t');
    }
    // Back to the last chat session, whose reply is streaming, and type there.
    term.input.write('\x1b[Z');
    await sleep(smoke ? 200 : 2000);
    const framesBefore = term.frames();
    const eventsBefore = eventsTaken(term.dash.sessions());
    const serversBefore = await serversCpuMs(helpers);
    const cpuBefore = process.cpuUsage();
    const started = monoMs();
    await sleep(WINDOW_MS);
    const elapsed = monoMs() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const events = eventsTaken(term.dash.sessions()) - eventsBefore;
    const serversCpu = (await serversCpuMs(helpers)) - serversBefore;
    const frames = term.frames() - framesBefore;
    const heap = await memoryAfterGc();
    term.input.write('\r');
    await sleep(100);
    const keys = await probeKeys(term, PROBES);
    const states = term.dash.sessions();
    const loading = states.filter((s) => s.phase === 'loading').length;
    const ready = states.filter((s) => s.phase === 'ready').length;
    log(`${n} sessions: ${ready} ready, ${loading} loading; ${frames} frames in ${(elapsed / 1000).toFixed(1)} s`);
    if (loading < n - chats || ready < chats) throw new Error(`${n} sessions: not in the steady state measured`);
    return {
      n,
      cpuShare: (cpu.user + cpu.system) / 1000 / elapsed,
      events,
      // At least one event: a smoke run's short window may see none, and every figure must be a number.
      cpuPerKiloEvent: (cpu.user + cpu.system) / Math.max(1, events),
      serversShare: serversCpu / elapsed,
      fps: frames / (elapsed / 1000),
      keys,
      memory: heap.heapUsed + heap.external,
      memoryEmpty: heapEmpty.heapUsed + heapEmpty.external,
      rss: heap.rss,
    };
  } finally {
    term.dash.shutdown();
    await term.dash.closed;
    // Cancel the long loads, so the servers do not carry them into the next size.
    await Promise.all(
      specs.filter((s) => /-load600s$/.test(s.model)).map((s) => postJson(`${s.server}/unload_model`, s)),
    );
  }
}

/** Ms from a process's start to the frame that shows all `n` configured sessions (median of the runs). */
async function firstFrame(urls, n, dir) {
  const samples = [];
  for (let run = 0; run < FIRST_FRAME_RUNS; run += 1) {
    const path = join(dir, `fleet-${n}-${run}.json`);
    const sessions = Array.from({ length: n }, (_, i) => ({
      server: urls[i % urls.length],
      model: `fleet/first${n}-r${run}-s${i + 1}-load1s`,
    }));
    await writeFile(path, JSON.stringify({ sessions }));
    const started = monoMs();
    const child = fork(fileURLToPath(new URL('./lib/fleet-first-frame.mjs', import.meta.url)), [path, String(n)], {
      // A plain start, as the command's: no profiler or flags of this process.
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const at = await new Promise((resolve, reject) => {
      child.on('message', (m) => m.type === 'first-frame' && resolve(m.at));
      child.on('exit', (code) => reject(new Error(`the first-frame probe exited (${code}) before a frame`)));
    });
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve()));
    samples.push(at - started);
  }
  return { ms: median(samples), samples };
}

/** Least-squares slope of `ys` over `xs`. */
function slope(xs, ys) {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return num / den;
}

async function idleKeyEcho() {
  const idle = fakeDashboard([{ server: 'http://127.0.0.1:9', model: 'bench/idle' }]);
  try {
    await sleep(300);
    idle.input.write('\r');
    await sleep(100);
    return await probeKeys(idle, smoke ? 3 : 40);
  } finally {
    idle.dash.shutdown();
    await idle.dash.closed;
  }
}

async function main() {
  const helpers = Array.from({ length: SERVERS }, () => forkHelper('fleet-server.mjs', [], { nice: NICE }));
  const dir = await tempDir('fleet');
  try {
    const urls = await Promise.all(helpers.map(async (h) => (await h.request({ type: 'url' })).url));
    log(`${SERVERS} servers up`);
    const idleKeys = await idleKeyEcho();
    const sizes = [];
    for (const [round, n] of SIZES.entries()) sizes.push(await measureSize(helpers, urls, n, round));
    const largest = SIZES.at(-1);
    const frame = await firstFrame(urls, largest, dir.path);
    const frameOne = await firstFrame(urls, 1, dir.path);

    const at = (n) => sizes.find((s) => s.n === n);
    const big = at(largest);
    const perSession = slope(
      sizes.map((s) => s.n),
      sizes.map((s) => s.memory),
    );
    const rssPerSession = slope(
      sizes.map((s) => s.n),
      sizes.map((s) => s.rss),
    );
    const curve = sizes.map(
      (s) =>
        `${s.n} sessions: CPU ${s.cpuShare.toFixed(3)} (${((s.cpuShare / s.n) * 1000).toFixed(2)} ‰ a session), ` +
        `key echo p99 ${percentile(s.keys, 99).toFixed(1)} ms (${missed(s.keys)} of ${s.keys.length} keys never shown; ` +
        `typed to handled p50 ${median(s.keys.toHandler).toFixed(1)} / p99 ${percentile(s.keys.toHandler, 99).toFixed(1)} ms, ` +
        `handled to on screen p50 ${median(s.keys.toScreen).toFixed(1)} / p99 ${percentile(s.keys.toScreen, 99).toFixed(1)} ms, ` +
        `of which the dashboard's CPU p50 ${median(s.keys.cpuToScreen).toFixed(1)} / max ${Math.max(...s.keys.cpuToScreen).toFixed(1)} ms), ` +
        `${(s.memory / 1e6).toFixed(1)} MB heap + external ` +
        `(${((s.memory - s.memoryEmpty) / s.n / 1e6).toFixed(3)} MB a session over the empty process), ` +
        `${s.fps.toFixed(1)} fps; ${Math.round(s.events)} stream events taken in the window, ` +
        `${s.cpuPerKiloEvent.toFixed(0)} CPU ms per 1,000 with the frames; ` +
        `the ${SERVERS} servers meanwhile ${s.serversShare.toFixed(2)} of a core`,
    );
    for (const line of curve) log(line);
    await report({
      id: 'fleet',
      title: `Fleet (${SIZES.join(' / ')} sessions over ${SERVERS} servers in other processes, ${COLUMNS}×${ROWS})`,
      repetitions: 1,
      figures: [
        figure(`CPU share of one core, ${largest} sessions`, big.cpuShare, 'fraction', { op: '<=', target: 0.5 }),
        ...sizes.slice(0, -1).map((s) => figure(`CPU share of one core, ${s.n} sessions`, s.cpuShare, 'fraction')),
        figure(`key echo p99, ${largest} sessions`, percentile(big.keys, 99), 'ms', {
          baseline: percentile(idleKeys, 99),
          baselineLabel: 'key echo p99, idle dashboard',
          op: '<=',
          target: 50,
          targetOn: 'value',
        }),
        ...sizes.slice(0, -1).map((s) => figure(`key echo p99, ${s.n} sessions`, percentile(s.keys, 99), 'ms')),
        figure(`key echo p50, ${largest} sessions`, median(big.keys), 'ms', {
          baseline: median(idleKeys),
          baselineLabel: 'key echo p50, idle dashboard',
        }),
        figure(`memory per session (heap + external, slope over ${SIZES.join('/')})`, perSession / 1e6, 'MB', {
          op: '<=',
          target: 1,
        }),
        figure(`RSS per session (slope over ${SIZES.join('/')})`, rssPerSession / 1e6, 'MB'),
        ...sizes.map((s) => figure(`heap + external, ${s.n} sessions`, s.memory / 1e6, 'MB')),
        figure(`first frame, ${largest} configured sessions, from process start`, frame.ms, 'ms', {
          baseline: frameOne.ms,
          baselineLabel: 'first frame, 1 session',
          op: '<=',
          target: 1500,
          targetOn: 'value',
          samples: frame.samples,
        }),
        ...sizes.map((s) => figure(`frames drawn per second, ${s.n} sessions`, s.fps, 'fps')),
        // What the window's CPU did: a host that slows the servers sends fewer events, and the share falls with them.
        ...sizes.map((s) =>
          figure(`dashboard CPU per 1,000 stream events (frames included), ${s.n} sessions`, s.cpuPerKiloEvent, 'ms'),
        ),
        // The host the dashboard shares: on 2 cores, servers near 1.5 leave it a core only part of the time.
        ...sizes.map((s) =>
          figure(`CPU share of the ${SERVERS} server processes, ${s.n} sessions`, s.serversShare, 'fraction'),
        ),
      ],
      notes: [
        `Half of each size's sessions load for the whole run (download progress, 10 events/s each); the other half ` +
          `chat (a reply streaming at 20 tokens/s each). CPU over a ${WINDOW_MS / 1000} s steady window; ` +
          `${PROBES} key echo probes after it, ${PROBE_GAP_MS} ms apart. The ${SERVERS} servers at nice ${NICE}.`,
        `Curve: ${curve.join('; ')}.`,
        `First frame: ${FIRST_FRAME_RUNS} runs each, median; ${largest} sessions ${frame.samples.map((x) => x.toFixed(0)).join(', ')} ms, ` +
          `1 session ${frameOne.samples.map((x) => x.toFixed(0)).join(', ')} ms.`,
      ],
    });
  } finally {
    await Promise.all(helpers.map((h) => h.close()));
    await dir.cleanup();
  }
}

await main();
