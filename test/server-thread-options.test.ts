// modeldeck's own worker threads (a model's, the checksum's) start without the module hooks of their process
// (thread-options.ts): a `--import` given on the command line or in NODE_OPTIONS runs in the server, not again in each
// worker; every other flag is kept.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { withoutModuleHooks } from '../src/server/thread-options.js';
import { sourceModuleUrl } from './helpers/repo.js';

t.test('withoutModuleHooks drops --import, --require, -r and --loader with their module, and keeps the rest', (t) => {
  t.strictSame(
    withoutModuleHooks([
      '--import=file:///a.mjs',
      '--enable-source-maps',
      '--import',
      'b',
      '-r',
      './c.cjs',
      '--require=d',
      '--loader',
      'e',
      '--experimental-loader=f',
      '--no-warnings',
      '--max-old-space-size=512',
    ]),
    ['--enable-source-maps', '--no-warnings', '--max-old-space-size=512'],
  );
  t.strictSame(withoutModuleHooks([]), []);
  t.end();
});

// Each hook marks the thread it ran in; the worker reports its marks, its execArgv and the NODE_OPTIONS it was given.
const child = `
import { Worker } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
const { startOwnThread } = await import(process.argv[2]);
const file = new URL('file://' + join(process.argv[3], 'worker.mjs'));
writeFileSync(file, \`import { parentPort } from 'node:worker_threads';
parentPort.postMessage({ marks: globalThis.marks ?? [], execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS, gc: typeof globalThis.gc });\`);
const report = {};
for (const [name, start] of [['inherited', () => new Worker(file)], ['own', () => startOwnThread(file)]]) {
  const worker = start();
  report[name] = await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
}
report.parent = globalThis.marks;
process.stdout.write(JSON.stringify(report));
`;

const hook = (name: string): string =>
  `data:text/javascript,${encodeURIComponent(`(globalThis.marks ??= []).push(${JSON.stringify(name)})`)}`;

t.test(
  'a worker started with startOwnThread runs none of its process hooks, under V8 flags too; a default worker runs both',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'modeldeck-thread-options-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const script = join(dir, 'child.mjs');
    await writeFile(script, child);
    // Through `env`, so that NODE_OPTIONS is exactly this (tap adds its own hook to a child's environment otherwise).
    const { stdout } = await promisify(execFile)('env', [
      `NODE_OPTIONS=--import=${hook('env')} --no-warnings`,
      process.execPath,
      `--import=${hook('argv')}`,
      '--enable-source-maps',
      // V8 flags, which a worker given execArgv refuses (they hold for every thread of the process).
      '--expose-gc',
      '--max-old-space-size=512',
      // and a process-wide option given as two words
      '--title',
      'modeldeck-thread-test',
      script,
      sourceModuleUrl('server/thread-options'),
      dir,
    ]);
    const report = JSON.parse(stdout) as Record<
      string,
      { marks: string[]; execArgv: string[]; nodeOptions?: string; gc: string }
    >;
    t.strictSame(report['parent'], ['env', 'argv'], 'the process itself ran both hooks');
    t.strictSame(report['inherited']?.marks, ['env', 'argv'], 'a worker with default options runs them again');
    t.strictSame(report['own']?.marks, [], 'a worker of modeldeck runs neither');
    t.strictSame(report['own']?.execArgv, ['--enable-source-maps'], 'and keeps the other flags of the command line');
    t.equal(report['own']?.nodeOptions, '--no-warnings', 'and of NODE_OPTIONS');
    t.equal(report['own']?.gc, 'function', "the process's --expose-gc holds in it");
  },
);
