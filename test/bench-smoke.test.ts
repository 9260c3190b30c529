import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { repoPath } from './helpers/repo.js';
import { untracked } from './helpers/untracked.js';

// `npm run bench` in smoke mode: every benchmark script runs end to end at tiny sizes, so none can rot. The figures
// of a smoke run mean nothing (tiny sizes, a loaded machine): only their presence and shape are checked here.
const runner = repoPath('bench', 'run.mjs');
const BENCHMARKS = [
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

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function bench(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [command, argv] = untracked(process.execPath, [runner, ...args]);
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Figure {
  readonly label: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: number;
  readonly ratio?: number;
  readonly target?: { readonly on: string; readonly op: string; readonly value: number };
  readonly met?: boolean;
}

interface Results {
  readonly smoke: boolean;
  readonly command: string;
  readonly machine: { readonly cpus: number; readonly node: string };
  readonly benchmarks: readonly { readonly id: string; readonly error?: string; readonly figures?: Figure[] }[];
  readonly table: string;
}

// Thirteen benchmarks, each starting servers, mirrors and model loads of its own: minutes on a busy 2-core host,
// more than the 300 s .taprc gives a file.
t.setTimeout(900_000);

t.test('every benchmark runs in smoke mode and reports figures', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-bench-smoke-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'results.json');
  const r = await bench(['--smoke', '--out', out]);
  t.equal(r.code, 0, `exits 0 (stderr: ${r.stderr.slice(-2000)})`);
  t.match(
    r.stdout,
    /\| Benchmark +\| Figure +\| modeldeck +\| Baseline +\| Ratio +\| Target +\| Met +\|/,
    'prints the table',
  );
  t.match(r.stdout, /node bench\/run\.mjs --smoke/, 'names the command that produced it');

  const results = JSON.parse(await readFile(out, 'utf8')) as Results;
  t.equal(results.smoke, true);
  t.ok(results.machine.cpus >= 1 && results.machine.node.startsWith('v'), 'records the machine');
  t.same(
    results.benchmarks.map((b) => b.id),
    BENCHMARKS,
    'every benchmark, in the issue order',
  );
  for (const benchmark of results.benchmarks) {
    t.equal(benchmark.error, undefined, `${benchmark.id} did not fail`);
    const figures = benchmark.figures ?? [];
    t.ok(figures.length > 0, `${benchmark.id} reports figures`);
    for (const fig of figures) {
      t.ok(Number.isFinite(fig.value), `${benchmark.id}: ${fig.label} is a number (${fig.value})`);
      t.ok(fig.unit.length > 0, `${benchmark.id}: ${fig.label} has a unit`);
      if (fig.baseline !== undefined) {
        t.ok(Number.isFinite(fig.ratio), `${benchmark.id}: ${fig.label} has a ratio to its baseline`);
      }
      if (fig.target !== undefined)
        t.type(fig.met, 'boolean', `${benchmark.id}: ${fig.label} says if it met its target`);
    }
  }
  t.ok(
    results.benchmarks.some((b) => b.figures?.some((f) => f.target !== undefined)),
    'targets are checked',
  );
  t.match(results.table, /Download throughput/);
  const large = results.benchmarks.find((b) => b.id === 'download-large');
  t.ok(
    large?.figures?.some((f) => /^peak server RSS during the download/.test(f.label) && f.target !== undefined),
    'download-large reports the peak RSS against its target',
  );
});

t.test('bad command lines exit 2 with a message', async (t) => {
  const unknown = await bench(['--only', 'nope']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown benchmark nope; ids: download, load-overhead/);
  const option = await bench(['--frobnicate']);
  t.equal(option.code, 2);
  t.match(option.stderr, /unknown option --frobnicate/);
  // A destination that cannot be written is refused before anything is measured (the run would be lost at its end).
  const notDir = await bench(['--smoke', '--out', `${runner}/results.json`]);
  t.equal(notDir.code, 2);
  t.match(notDir.stderr, /--out: .*run\.mjs is not a directory/);
  t.notMatch(notDir.stderr, /\[download\]/, 'and nothing ran');
  const size = await bench(['--smoke', '--size', 'big']);
  t.equal(size.code, 2);
  t.match(size.stderr, /--size must be a size of 1M or more like 4G, 512M or 1\.5GiB, got 'big'/);
  const help = await bench(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: node bench\/run\.mjs/);
});
