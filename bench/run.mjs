#!/usr/bin/env node
/**
 * `npm run bench`: runs modeldeck's benchmarks (issue 5), one child process each (with `--expose-gc`, so memory
 * figures are after garbage collection and one benchmark's heap never weighs on the next), prints one table and
 * writes the same figures as JSON.
 *
 *     node bench/run.mjs [--smoke] [--out FILE] [--only ID,ID] [--profile DIR] [--size SIZE]
 *
 * --smoke       tiny sizes, one repetition, seconds: proves the scripts run (the tests use it); figures meaningless
 * --out FILE    where the JSON goes (default bench/results.json; in smoke mode, nowhere unless given)
 * --only IDS    run only these benchmarks (comma-separated ids, see BENCHMARKS)
 * --profile DIR run each benchmark under `node --cpu-prof`, profiles into DIR (open them in Chrome DevTools)
 * --size SIZE   the file size of download-large (default 4G; 24M with --smoke)
 *
 * Every figure is modeldeck's value next to a baseline measured in the same run, with their ratio: the machine is
 * shared and noisy, and a ratio of two things measured side by side means more than an absolute time.
 */

import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseSize } from './lib/size.mjs';

/** The benchmarks, in the issues' order (5, then 23 and 26); each is `bench/{id}.mjs`. */
export const BENCHMARKS = [
  'download',
  'load-overhead',
  'responsiveness',
  'fan-out',
  'event-feed',
  'chat-streaming',
  'dashboard-ingest',
  'load-burst',
  'wire-tap',
  'download-resume',
  'download-fair',
  'download-edges',
  'download-large',
  'fleet',
  'feed-scale',
];

const here = dirname(fileURLToPath(import.meta.url));

const USAGE = `Usage: node bench/run.mjs [options]   (npm run bench -- [options])

Runs modeldeck's benchmarks, each next to a baseline measured in the same run, prints one table
and writes the figures as JSON.

Options:
  --smoke        tiny sizes, one repetition, seconds: proves the scripts run (figures meaningless)
  --out FILE     where the JSON goes (default bench/results.json; with --smoke, nowhere unless given)
  --only IDS     only these benchmarks, comma-separated: ${BENCHMARKS.join(', ')}
  --profile DIR  run each benchmark under node --cpu-prof, profiles into DIR
  --size SIZE    the weights file of download-large: 4G (default), 512M, 1.5GiB (24M with --smoke)
  -h, --help     show this help

Exit status: 0 when every benchmark ran (a missed target is a figure, not a failure), 1 when one
failed, 2 on a bad command line.
`;

/** A bad command line: exit status 2. */
class UsageError extends Error {}

function parseArgs(argv) {
  const options = { smoke: false, out: undefined, only: BENCHMARKS, profile: undefined, size: undefined };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      i += 1;
      return next;
    };
    if (arg === '--smoke') options.smoke = true;
    else if (arg === '--out') options.out = resolve(value());
    else if (arg === '--profile') options.profile = resolve(value());
    else if (arg === '--size') {
      options.size = value();
      if (parseSize(options.size) === undefined)
        throw new UsageError(`--size must be a size of 1M or more like 4G, 512M or 1.5GiB, got '${options.size}'`);
    } else if (arg === '--only') {
      options.only = value().split(',');
      const unknown = options.only.filter((id) => !BENCHMARKS.includes(id));
      if (unknown.length > 0)
        throw new UsageError(`unknown benchmark ${unknown.join(', ')}; ids: ${BENCHMARKS.join(', ')}`);
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new UsageError(`unknown option ${arg} (see --help)`);
  }
  if (options.out === undefined && !options.smoke) options.out = resolve(here, 'results.json');
  return options;
}

/** Runs `bench/{id}.mjs`; resolves with its result, or with `{id, error}` when it failed. */
function runBenchmark(id, options) {
  const execArgv = ['--expose-gc'];
  if (options.profile !== undefined) execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profile}`);
  const started = performance.now();
  return new Promise((resolvePromise) => {
    const args = [
      ...(options.smoke ? ['--smoke'] : []),
      ...(options.size === undefined ? [] : ['--size', options.size]),
    ];
    const child = fork(resolve(here, `${id}.mjs`), args, {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result;
    child.on('message', (message) => {
      if (message?.type === 'result') result = message.result;
    });
    child.on('error', (error) => resolvePromise({ id, error: error.message }));
    child.on('exit', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      if (code === 0 && result !== undefined) resolvePromise({ ...result, seconds });
      else resolvePromise({ id, error: `exited with ${signal ?? code} before reporting a result`, seconds });
    });
  });
}

/** Three significant digits, without exponent notation for the sizes seen here. */
function formatNumber(value) {
  if (value === undefined) return '';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

function formatTarget(fig) {
  if (fig.target === undefined) return '';
  const op = fig.target.op === '<=' ? '≤' : '≥';
  return fig.target.on === 'ratio' ? `ratio ${op} ${fig.target.value}` : `${op} ${fig.target.value} ${fig.unit}`;
}

/** The results as a Markdown table (it reads as plain text in a terminal, and pastes into the README). */
export function resultsTable(results) {
  const rows = [['Benchmark', 'Figure', 'modeldeck', 'Baseline', 'Ratio', 'Target', 'Met']];
  for (const result of results) {
    if (result.error !== undefined) {
      rows.push([result.id, `FAILED: ${result.error}`, '', '', '', '', 'no']);
      continue;
    }
    result.figures.forEach((fig, index) => {
      rows.push([
        index === 0 ? result.title : '',
        fig.label,
        `${formatNumber(fig.value)} ${fig.unit}`,
        fig.baseline === undefined ? '' : `${formatNumber(fig.baseline)} (${fig.baselineLabel})`,
        fig.ratio === undefined ? '' : formatNumber(fig.ratio),
        formatTarget(fig),
        fig.met === undefined ? '' : fig.met ? 'yes' : 'NO',
      ]);
    });
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row) => `| ${row.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/**
 * Creates `dir` and its missing parents one level at a time (Node's recursive mkdir loops forever on a filesystem
 * that answers ENOENT to mkdir, such as /proc), then proves a file can be written there.
 */
async function ensureWritableDir(dir, flag) {
  const missing = [];
  let at = resolve(dir);
  for (;;) {
    const info = await stat(at).catch(() => undefined);
    if (info !== undefined) {
      if (!info.isDirectory()) throw new UsageError(`${flag}: ${at} is not a directory`);
      break;
    }
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  try {
    for (const path of missing) await mkdir(path);
    const probe = join(dir, `.bench-probe-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe);
  } catch (error) {
    throw new UsageError(`${flag}: cannot write in ${resolve(dir)} (${error.code ?? error.message})`);
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(resolve(here, '../dist/server/app.js'))) {
    throw new Error("dist/ is missing: run 'npm run build' (npm ci runs it) first");
  }
  // Before minutes of measuring: a destination that cannot be written is a bad command line, not a lost run.
  if (options.profile !== undefined) await ensureWritableDir(options.profile, '--profile');
  if (options.out !== undefined) await ensureWritableDir(dirname(options.out), '--out');
  const { demoModelsDir, BIG_MODEL, TINY_MODEL } = await import('./lib/common.mjs');
  const started = performance.now();
  process.stderr.write(`modeldeck benchmarks${options.smoke ? ' (smoke: tiny sizes, figures meaningless)' : ''}\n`);
  process.stderr.write('preparing the demo models (generated once, then reused)\n');
  await demoModelsDir(options.smoke ? [TINY_MODEL] : [TINY_MODEL, BIG_MODEL]);

  const loadBefore = os.loadavg();
  const results = [];
  for (const id of options.only) {
    process.stderr.write(`[${id}]\n`);
    const result = await runBenchmark(id, options);
    if (result.error !== undefined) process.stderr.write(`  FAILED: ${result.error}\n`);
    else process.stderr.write(`  done in ${result.seconds.toFixed(1)} s\n`);
    results.push(result);
  }
  const seconds = (performance.now() - started) / 1000;
  const table = resultsTable(results);
  process.stdout.write(`\n${table}\n\n`);
  const command = `node bench/run.mjs${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  process.stdout.write(
    `${command}: ${seconds.toFixed(0)} s on ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ` +
      `Node ${process.version}, load average ${loadBefore[0].toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after\n`,
  );
  if (options.out !== undefined) {
    const json = {
      command,
      smoke: options.smoke,
      date: new Date().toISOString(),
      seconds,
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? null,
        memoryBytes: os.totalmem(),
        platform: `${process.platform} ${process.arch}`,
        node: process.version,
        loadAverageBefore: loadBefore,
        loadAverageAfter: os.loadavg(),
      },
      benchmarks: results,
      table,
    };
    await writeFile(options.out, `${JSON.stringify(json, null, 2)}\n`);
    process.stdout.write(`results: ${options.out}\n`);
  }
  const failed = results.filter((r) => r.error !== undefined);
  return failed.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = error instanceof UsageError ? 2 : 1;
    },
  );
}
