/**
 * What every benchmark script shares: argument parsing, statistics, figures, the demo models, a modeldeck server on
 * port 0, a mirror in its own process, and reporting back to `bench/run.mjs`.
 *
 * Benchmarks import the compiled modules from `dist/` (built by `npm ci` through the prepare script), so they run
 * from a fresh clone with plain `node`.
 */

import { fork, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { DEMO_GENERATOR_VERSION, generateDemoModels } from '../../dist/demo/demo-models.js';
import { startServer as startModeldeckServer } from '../../dist/server/start.js';
import { createSseParser } from '../../dist/protocol/sse.js';
import { parseLoadEvent } from '../../dist/protocol/events.js';
import { parseSize } from './size.mjs';

/** The ~100 MB demo model (external data). */
export const BIG_MODEL = 'modeldeck/chat-100m';
/** The ~1 MB demo model. */
export const TINY_MODEL = 'modeldeck/tiny-chat';

/**
 * Options every benchmark script understands: `--smoke` (tiny sizes, seconds; the figures are not meaningful) and
 * `--size SIZE` (the file size of the benchmarks that take one, in bytes; `undefined` when not given).
 * @returns {{ smoke: boolean, size: number | undefined }}
 */
export function benchArgs(argv = process.argv.slice(2)) {
  const at = argv.indexOf('--size');
  const text = at < 0 ? undefined : argv[at + 1];
  const size = text === undefined ? undefined : parseSize(text);
  if (text !== undefined && size === undefined) throw new Error(`--size must be a size of 1M or more, got '${text}'`);
  return { smoke: argv.includes('--smoke'), size };
}

/**
 * Milliseconds on the system-wide monotonic clock (`CLOCK_MONOTONIC` on Linux): comparable between the processes of
 * one machine, unlike `performance.now()`, whose origin is per process.
 */
export function monoMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The median of `values` (NaN when empty). */
export function median(values) {
  return percentile(values, 50);
}

/** The `p`-th percentile (0–100) of `values`, nearest-rank (NaN when empty). */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * The median of `values[i] / baselines[i]`: for repetitions where each value was measured right next to its
 * baseline. On a shared machine whose speed drifts by 2x over seconds, the ratio of two medians mixes moments; the
 * median of paired ratios compares like with like.
 */
export function pairedRatio(values, baselines) {
  if (values.length !== baselines.length) throw new Error('pairedRatio: the series differ in length');
  return median(values.map((value, i) => value / baselines[i]));
}

/**
 * One row of the results table.
 *
 * @param {string} label What is measured.
 * @param {number} value modeldeck's figure (the median of the repetitions unless the label says otherwise).
 * @param {string} unit The unit of `value` and `baseline`.
 * @param {object} [more]
 * @param {number} [more.baseline] The baseline's figure, measured in the same run, same unit.
 * @param {string} [more.baselineLabel] What the baseline is.
 * @param {'>=' | '<='} [more.op] How `check` compares (against the ratio when there is a baseline, else the value).
 * @param {number} [more.target] The target for `op`.
 * @param {'ratio' | 'value'} [more.targetOn] What the target applies to (default: the ratio when there is a baseline).
 * @param {number} [more.ratio] The ratio to report, when it is not `value / baseline`: for paired repetitions, the
 *   median of the per-repetition ratios ({@link pairedRatio}), which cancels the machine's slow drifts.
 * @param {number[]} [more.samples] The repetitions' figures, kept in the JSON.
 */
export function figure(label, value, unit, more = {}) {
  const ratio = more.ratio ?? (more.baseline === undefined ? undefined : value / more.baseline);
  const targetOn = more.targetOn ?? (ratio === undefined ? 'value' : 'ratio');
  const compared = targetOn === 'ratio' ? ratio : value;
  const met =
    more.target === undefined || compared === undefined
      ? undefined
      : more.op === '<='
        ? compared <= more.target
        : compared >= more.target;
  return {
    label,
    value,
    unit,
    ...(more.baseline === undefined ? {} : { baseline: more.baseline, baselineLabel: more.baselineLabel ?? '' }),
    ...(ratio === undefined ? {} : { ratio }),
    ...(more.target === undefined ? {} : { target: { on: targetOn, op: more.op ?? '>=', value: more.target }, met }),
    ...(more.samples === undefined ? {} : { samples: more.samples }),
  };
}

/**
 * Hands a benchmark's result to `bench/run.mjs` (over IPC) or prints it when the script runs alone.
 * @param {{ id: string, title: string, figures: object[], notes?: string[], repetitions: number }} result
 */
export async function report(result) {
  if (process.send) {
    await new Promise((resolve) => process.send({ type: 'result', result }, () => resolve(undefined)));
  } else {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  }
}

/** Progress lines go to stderr, so stdout stays the result. */
export function log(message) {
  process.stderr.write(`  ${message}\n`);
}

/**
 * The demo models, generated on first use into the same directory the tests use (generation is idempotent and
 * atomic, so sharing it is safe and saves a ~100 MB regeneration).
 * @param {string[]} only
 */
export async function demoModelsDir(only) {
  const dir = join(tmpdir(), `modeldeck-test-models-v${DEMO_GENERATOR_VERSION}`);
  await generateDemoModels(dir, { only });
  return dir;
}

/** A new temporary directory; `cleanup()` removes it. */
export async function tempDir(prefix) {
  const path = await mkdtemp(join(tmpdir(), `modeldeck-bench-${prefix}-`));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/**
 * A modeldeck server on 127.0.0.1:0 in this process, assembled like `modeldeck serve`.
 * @param {{ hubUrl: string, cacheDir: string, offline?: boolean }} options
 */
export function startServer(options) {
  return startModeldeckServer({
    loader: {
      hubUrl: options.hubUrl,
      cacheDir: options.cacheDir,
      ...(options.offline === undefined ? {} : { offline: options.offline }),
    },
    heartbeatMs: 0,
    logger: false,
  });
}

/**
 * A modeldeck server that loads only from the disk cache at `cacheDir` (offline: it never contacts a hub; the hub URL
 * given, the discard port of loopback, would refuse it anyway).
 */
export function startOfflineServer(cacheDir) {
  return startServer({ hubUrl: 'http://127.0.0.1:9', cacheDir, offline: true });
}

/**
 * Starts a script of this directory in a child process with an IPC channel and `--expose-gc` (and this process's
 * `--cpu-prof` flags, so that `--profile` covers the servers a benchmark starts). `request(message)` sends a message
 * with a fresh `seq` and resolves with the child's reply carrying the same `seq`.
 *
 * `options.fdLimit`: the child's soft limit of open files (`ulimit -n`), for thousands of sockets. Node cannot raise
 * its own, so the child is started through `sh -c 'ulimit -n N && exec node …'`; N above the hard limit fails there.
 * `options.nice`: the child's niceness (`nice -n N node …`, every thread of it): for processes that stand in for
 * other machines, so that they take only the cores the process measured leaves free.
 * @param {string} script File name under `bench/lib/`.
 * @param {string[]} [args]
 * @param {{ fdLimit?: number, nice?: number }} [options]
 */
export function forkHelper(script, args = [], options = {}) {
  const execArgv = ['--expose-gc', ...process.execArgv.filter((flag) => flag.startsWith('--cpu-prof'))];
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'];
  const steps = [
    ...(options.fdLimit === undefined ? [] : [`ulimit -n ${Math.floor(options.fdLimit)}`]),
    `exec ${options.nice === undefined ? '' : `nice -n ${Math.floor(options.nice)} `}"$0" "$@"`,
  ];
  const child =
    steps.length === 1 && options.nice === undefined
      ? fork(path, args, { execArgv, stdio })
      : spawn('/bin/sh', ['-c', steps.join(' && '), process.execPath, ...execArgv, path, ...args], { stdio });
  const waiting = new Map();
  let seq = 0;
  let exited = false;
  const failAll = (error) => {
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  };
  child.on('message', (message) => {
    const entry = waiting.get(message.seq);
    if (entry === undefined) return;
    waiting.delete(message.seq);
    if (message.error !== undefined) entry.reject(new Error(`${script}: ${message.error}`));
    else entry.resolve(message);
  });
  child.on('exit', (code, signal) => {
    exited = true;
    failAll(new Error(`${script} exited (${signal ?? code})`));
  });
  return {
    child,
    request(message) {
      if (exited) return Promise.reject(new Error(`${script} has exited`));
      seq += 1;
      const id = seq;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send({ ...message, seq: id });
      });
    },
    async close() {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

/**
 * Serves requests from the parent (see {@link forkHelper}): `handlers[message.type](message)` answers each one.
 * @param {Record<string, (message: any) => Promise<object> | object>} handlers
 */
export function serveParent(handlers) {
  // A process killed by a signal writes no CPU profile: under --profile, close() (SIGTERM) becomes an exit.
  if (process.execArgv.some((flag) => flag.startsWith('--cpu-prof'))) process.once('SIGTERM', () => process.exit(0));
  process.on('message', async (message) => {
    const handler = handlers[message.type];
    try {
      if (handler === undefined) throw new Error(`unknown request ${message.type}`);
      const reply = await handler(message);
      process.send({ ...reply, seq: message.seq });
    } catch (error) {
      process.send({
        seq: message.seq,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    }
  });
}

/**
 * A mirror of `root` in its own process (a hub is another machine; it must not share this event loop). With
 * `redirect`, large files answer with a 302 to its CDN origin and a signed URL, as the Hub's Xet bridge does. `shape`
 * sets its throttles (bytes/s per response and for all together), faults, capped CDN edges (`edgeCap`) and the signed
 * URLs' lifetime (`urlTtl`, seconds); `bytesSent(path)` sums the body bytes sent for a file (from the hub and the CDN)
 * since `clear()`; `settled()` resolves once no request is in flight.
 * @param {string} root
 * @param {{ redirect?: boolean }} [options]
 */
export async function startMirrorProcess(root, options = {}) {
  const helper = forkHelper('mirror-child.mjs', [root, ...(options.redirect === true ? ['--redirect'] : [])]);
  const { url, cdnUrl } = await helper.request({ type: 'url' });
  return {
    url,
    cdnUrl,
    shape: (shape) => helper.request({ type: 'shape', ...shape }),
    clear: () => helper.request({ type: 'clear' }),
    bytesSent: async (path) => (await helper.request({ type: 'bytes', path })).bytes,
    settled: () => helper.request({ type: 'settled' }),
    close: () => helper.close(),
  };
}

/**
 * A modeldeck server in its own process (`server-child.mjs`) on `cacheDir`, loading from `hubUrl`: `pid` for /proc,
 * `kill(signal)` resolves once it has exited, `close()` stops it cleanly.
 */
export async function startServerProcess(hubUrl, cacheDir) {
  const helper = forkHelper('server-child.mjs', [hubUrl, cacheDir]);
  const { url } = await helper.request({ type: 'url' });
  let exited = false;
  const gone = new Promise((resolve) => helper.child.once('exit', resolve));
  void gone.then(() => (exited = true));
  return {
    url,
    pid: helper.child.pid,
    async kill(signal) {
      if (!exited) helper.child.kill(signal);
      await gone;
    },
    close: () => helper.close(),
  };
}

/**
 * The resident memory of process `pid` now (`VmRSS`) and at its peak so far (`VmHWM`), in bytes, from
 * `/proc/PID/status` (Linux). `undefined` once the process is gone.
 */
export async function residentBytes(pid) {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (status === undefined) return undefined;
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/**
 * The ONNX files of `model` from the mirror's tree listing, as the server selects them (the demo models are fp32),
 * largest first.
 */
export async function listWeightFiles(hubUrl, model) {
  const res = await fetch(`${hubUrl}/api/models/${model}/tree/main?recursive=true`);
  if (!res.ok) throw new Error(`listing ${model}: ${res.status}`);
  const listing = await res.json();
  return listing
    .filter((entry) => entry.type === 'file' && /^onnx\/model\.onnx(_data)?$/.test(entry.path))
    .map((entry) => ({ path: entry.path, size: entry.size }))
    .sort((a, b) => b.size - a.size);
}

/**
 * Follows one load's `download` stage from its events: `onEvent` for {@link loadModel}; `result()` gives the stage's
 * total bytes, the arrival times ({@link monoMs}) of its first event, of its completion (`current == total`: the last
 * byte arrived) and of the first event after it (the blobs verified and linked), and its throughput from first event
 * to completion. `phase` is `before`, `download` or `after` as the events go.
 */
export function watchDownload() {
  const seen = { total: 0, first: undefined, last: undefined, next: undefined, phase: 'before' };
  return {
    get phase() {
      return seen.phase;
    },
    onEvent(event, at) {
      if (event.status === 'loading' && event.stage === 'download') {
        seen.phase = 'download';
        if (event.progress === undefined) return;
        seen.first ??= at;
        seen.total = event.progress.total;
        if (event.progress.current === event.progress.total) seen.last = at;
        return;
      }
      if (seen.phase === 'download') {
        seen.phase = 'after';
        seen.next = at;
      }
    },
    result() {
      const { total, first, last, next } = seen;
      if (first === undefined || last === undefined) throw new Error('no complete download stage');
      return { total, first, last, next, bytesPerSecond: total / ((last - first) / 1000) };
    },
  };
}

/** POSTs `/unload_model` for `model` (which cancels its load if it is loading); resolves with the status. */
export async function unloadModel(baseUrl, model) {
  return (await postJson(`${baseUrl}/unload_model`, { model })).status;
}

/**
 * Fills `cacheDir` with `model` laid out by hand as huggingface_hub lays it out (refs/main, blobs named by the etag
 * the hub lists, snapshots/{commit}/… as relative links), from a mirror of the demo models: no modeldeck code writes
 * it.
 */
export async function preparePythonCache(modelsDir, cacheDir, model) {
  const { copyFile, mkdir, symlink, writeFile } = await import('node:fs/promises');
  const { join, relative } = await import('node:path');
  const mirror = await startMirrorProcess(modelsDir);
  try {
    const { sha } = await (await fetch(`${mirror.url}/api/models/${model}/revision/main`)).json();
    const listing = await (await fetch(`${mirror.url}/api/models/${model}/tree/${sha}?recursive=true`)).json();
    const repo = join(cacheDir, `models--${model.replaceAll('/', '--')}`);
    await mkdir(join(repo, 'refs'), { recursive: true });
    await writeFile(join(repo, 'refs', 'main'), sha);
    await mkdir(join(repo, 'blobs'), { recursive: true });
    for (const entry of listing.filter((e) => e.type === 'file')) {
      const blob = join(repo, 'blobs', entry.lfs?.oid ?? entry.oid);
      await copyFile(join(modelsDir, model, ...entry.path.split('/')), blob);
      const link = join(repo, 'snapshots', sha, ...entry.path.split('/'));
      await mkdir(join(link, '..'), { recursive: true });
      await symlink(relative(join(link, '..'), blob), link);
    }
  } finally {
    await mirror.close();
  }
}

/**
 * POSTs `/load_model` over `node:http` and parses the stream with the project's own SSE parser. Resolves with every
 * event and its arrival time ({@link monoMs}); `onEvent` sees each as it arrives.
 *
 * @param {string} baseUrl
 * @param {string} model
 * @param {{ agent?: http.Agent, onEvent?: (event: object, at: number) => void, signal?: AbortSignal }} [options]
 */
export function loadModel(baseUrl, model, options = {}) {
  return new Promise((resolve, reject) => {
    const events = [];
    const times = [];
    const body = JSON.stringify({ model });
    const req = http.request(`${baseUrl}/load_model`, {
      method: 'POST',
      agent: options.agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      signal: options.signal,
    });
    req.on('error', (error) => {
      if (error.name === 'AbortError') resolve({ events, times, aborted: true });
      else reject(error);
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => reject(new Error(`/load_model answered ${res.statusCode}: ${text}`)));
        return;
      }
      const parser = createSseParser({
        onEvent: ({ data }) => {
          const at = monoMs();
          const parsed = parseLoadEvent(data);
          if (!parsed.ok) throw new Error(`unparseable event ${data}`);
          events.push(parsed.event);
          times.push(at);
          options.onEvent?.(parsed.event, at);
        },
      });
      res.on('data', (chunk) => parser.feed(chunk));
      res.on('end', () => resolve({ events, times, aborted: false }));
      res.on('error', (error) => {
        if (error.name === 'AbortError' || options.signal?.aborted) resolve({ events, times, aborted: true });
        else reject(error);
      });
    });
    req.end(body);
  });
}

/** Fails unless a load transcript ends in exactly one `ready`. */
export function expectReady(transcript, what) {
  const last = transcript.events.at(-1);
  if (last?.status !== 'ready') {
    throw new Error(`${what}: the load did not end in ready: ${JSON.stringify(last)}`);
  }
  return transcript;
}

/** POSTs JSON and resolves with the status and parsed body. */
export async function postJson(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Runs `globalThis.gc` (the scripts run with `--expose-gc`) a few times so finalizers and weak callbacks settle. */
export async function settleGc() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i += 1) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** `process.memoryUsage()` after {@link settleGc}. */
export async function memoryAfterGc() {
  await settleGc();
  return process.memoryUsage();
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `every` ms until it returns true; throws after `timeoutMs`. */
export async function until(what, check, timeoutMs = 60_000, every = 10) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

/**
 * Starts the direct transformers.js baseline (`direct-worker.mjs`) on a cached snapshot and resolves once the model
 * is loaded, with the time from spawning the worker to that moment (ms).
 * @param {{ cacheDir: string, model: string }} options `model` is an `org/name` id at revision `main`.
 */
export async function startDirectWorker(options) {
  const { Worker } = await import('node:worker_threads');
  const { readRef, snapshotDir } = await import('../../dist/server/fetch/model-cache.js');
  const ref = { id: options.model, revision: 'main' };
  const commit = await readRef(options.cacheDir, ref);
  if (commit === undefined) throw new Error(`${options.model} is not in the cache at ${options.cacheDir}`);
  const dir = snapshotDir(options.cacheDir, ref, commit);
  const started = monoMs();
  const worker = new Worker(new URL('./direct-worker.mjs', import.meta.url), {
    workerData: { cacheDir: options.cacheDir, modelsRoot: options.cacheDir, dir },
  });
  const next = (type) =>
    new Promise((resolve, reject) => {
      const onMessage = (message) => {
        if (message.type !== type && message.type !== 'failed') return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        if (message.type === 'failed') reject(new Error(`direct worker: ${message.message}`));
        else resolve(message);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  const loaded = await next('loaded');
  const loadMs = monoMs() - started;
  return {
    loadMs,
    importMs: loaded.importMs,
    /** @param {{ messages: object[], maxTokens: number, temperature: number, seed: number }} request */
    async generate(request) {
      const reply = next('generated');
      worker.postMessage({ type: 'generate', ...request });
      return reply;
    },
    async close() {
      const closed = next('closed');
      worker.postMessage({ type: 'close' });
      await closed;
      await worker.terminate();
    },
  };
}

/**
 * Fills `cacheDir` with a complete snapshot of `model` by loading it once through a modeldeck server from a mirror of
 * the demo models, then unloading it.
 */
export async function prepareCache(modelsDir, cacheDir, model) {
  const mirror = await startMirrorProcess(modelsDir);
  try {
    const server = await startServer({ hubUrl: mirror.url, cacheDir });
    try {
      expectReady(await loadModel(server.url, model), `caching ${model}`);
    } finally {
      await server.close();
    }
  } finally {
    await mirror.close();
  }
}

/**
 * Starts measuring what a server process spends while it sends a load's frames: `stop()` → `{cpuMs, blockMaxMs,
 * blockP99Ms}`, the process's CPU time (user + system) since the start, and the longest and 99th-percentile delay of
 * its event loop (`monitorEventLoopDelay`, 1 ms resolution): how long a request arriving meanwhile could wait behind
 * the server's own work. The CPU time is the figure least moved by other work on the host; the delays count the time
 * the process waited for a core too.
 */
export function startFrameMeter() {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpu = process.cpuUsage();
  return {
    stop() {
      delay.disable();
      const used = process.cpuUsage(cpu);
      return {
        cpuMs: (used.user + used.system) / 1000,
        blockMaxMs: delay.max / 1e6,
        blockP99Ms: delay.percentile(99) / 1e6,
      };
    },
  };
}
