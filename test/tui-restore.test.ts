// Every way out of the dashboard gives the terminal back: q, a signal, and an uncaught error. The sequences checked
// are the ones blessed really writes on destroy for xterm-256color (Screen.leave in node_modules/blessed): keypad
// back to normal (`\x1b[?1l\x1b>`), the cursor shown (`\x1b[?12l\x1b[?25h`), the normal screen buffer
// (`\x1b[?1049l`), and raw mode turned off on the input.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import { startDashboard } from '../src/tui/dashboard.js';
import { until } from './helpers/until.js';
import { sourceModuleUrl } from './helpers/repo.js';

const MODEL = 'modeldeck/tiny-chat';
// Nothing listens on port 9: the session shows it cannot connect, which is all these tests need on screen.
const DEAD_SERVER = 'http://127.0.0.1:9';

const ENTER_ALT = '\x1b[?1049h';
const LEAVE_ALT = '\x1b[?1049l';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const KEYPAD_NORMAL = '\x1b[?1l\x1b>';

/** Asserts that `written` ends in a restored terminal: each mode set while running is undone after it was last set. */
function assertRestored(t: Test, written: string, where: string): void {
  t.ok(written.includes(ENTER_ALT), `${where}: the dashboard had entered the alternate screen`);
  t.ok(written.lastIndexOf(LEAVE_ALT) > written.lastIndexOf(ENTER_ALT), `${where}: back on the normal screen buffer`);
  t.ok(written.lastIndexOf(SHOW_CURSOR) > written.lastIndexOf(HIDE_CURSOR), `${where}: the cursor shown again`);
  t.ok(written.includes(KEYPAD_NORMAL), `${where}: the keypad back in normal mode`);
}

t.test('q restores the terminal: normal screen, cursor shown, keypad and raw mode off', async (t) => {
  const rawModes: boolean[] = [];
  const input = Object.assign(new PassThrough(), {
    isTTY: true,
    isRaw: false,
    setRawMode(mode: boolean) {
      input.isRaw = mode;
      rawModes.push(mode);
      return input;
    },
  });
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: 120, rows: 40 });
  let written = '';
  output.on('data', (chunk: Buffer) => (written += chunk.toString()));
  const dash = startDashboard({
    sessions: [{ server: DEAD_SERVER, model: MODEL }],
    input,
    output,
    terminal: 'xterm-256color',
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  });
  t.teardown(() => dash.shutdown());

  await until('the session on screen', () => dash.screenText().includes(`s1 ${MODEL}`));
  await until('the screen written to the terminal', () => written.includes('tiny-chat'));
  t.same(rawModes, [true], 'raw mode on while it runs');
  t.ok(written.includes(ENTER_ALT) && written.includes(HIDE_CURSOR), 'the alternate screen, the cursor hidden');
  t.notOk(written.includes(LEAVE_ALT), 'not restored before quitting');

  const before = written.length;
  // Q asks first; ← to Quit, then Enter, quits.
  input.write('Q\x1b[D\r');
  await dash.closed;
  await until('the restore sequences', () => {
    const tail = written.slice(before);
    return tail.includes(LEAVE_ALT) && tail.includes(SHOW_CURSOR);
  });
  assertRestored(t, written, 'after q');
  t.ok(written.slice(before).includes(KEYPAD_NORMAL), 'written after q');
  t.same(rawModes, [true, false], 'raw mode off');

  const length = written.length;
  dash.shutdown();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(written.length, length, 'a second shutdown writes nothing');
});

// The command's own handlers (src/cli/dashboard.ts) are process-wide: an uncaught error or a signal is exercised in a
// child process running the command on fake terminal streams, so the test runner's process is never touched. The
// child writes the terminal's output, its stderr and its raw-mode calls, in order, to one file.
const CHILD = `
import { openSync, writeSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
const [cli, outPath, kind, server, model] = process.argv.slice(1);
const { runDashboardCommand } = await import(cli);
const fd = openSync(outPath, 'w');
const log = (text) => writeSync(fd, text);
const input = Object.assign(new PassThrough(), {
  isTTY: true,
  isRaw: false,
  setRawMode(mode) { input.isRaw = mode; log('<raw ' + mode + '>'); return input; },
});
let seen = '';
// 'hangup': the terminal goes away; from then on its writes fail as a closed tty's do (EIO), and SIGHUP comes.
let hungUp = false;
const eio = () => Object.assign(new Error('write EIO'), { code: 'EIO', errno: -5, syscall: 'write' });
const sink = (tag) => new Writable({ write(chunk, _enc, done) { if (hungUp && !tag) { log('<EIO>'); return done(eio()); } const s = chunk.toString(); if (!tag) seen += s; log(tag + s); done(); } });
const output = Object.assign(sink(''), { isTTY: true, columns: 120, rows: 40 });
// A real terminal's stdin is a handle that keeps the process alive (the dashboard's own timers are unref'd); these
// streams are not, so an interval stands in for it.
const alive = setInterval(() => {}, 1000);
const running = runDashboardCommand(['--server', server, '--model', model], { input, output, stderr: sink('<stderr>'), env: {} });
const poll = setInterval(() => {
  if (!seen.includes('tiny-chat')) return;
  clearInterval(poll);
  process.stdout.write('drawn\\n');
  if (kind === 'throw') setTimeout(() => { throw new Error('boom from a timer'); });
  if (kind === 'reject') void Promise.reject(new Error('boom from a promise'));
  if (kind === 'hangup') { hungUp = true; process.kill(process.pid, 'SIGHUP'); }
}, 50);
const code = await running;
log('<resolved ' + code + '>');
clearInterval(alive);
process.exit(code);
`;

interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Terminal output, `<stderr>…` and `<raw …>` marks, in the order they happened. */
  readonly transcript: string;
}

async function runChild(kind: 'throw' | 'reject' | 'sigterm' | 'hangup', dir: string): Promise<ChildRun> {
  const outPath = join(dir, `${kind}.out`);
  const cli = sourceModuleUrl('cli/dashboard');
  // The same loaders as this process (coverage, and TypeScript when run from the sources), so the child runs the code
  // under test.
  const child = spawn(
    process.execPath,
    [...process.execArgv, '--input-type=module', '-e', CHILD, cli, outPath, kind, DEAD_SERVER, MODEL],
    {
      env: { ...process.env, TERM: 'xterm-256color' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (kind === 'sigterm' && stdout.includes('drawn')) child.kill('SIGTERM');
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve([c, s]));
  });
  clearTimeout(killer);
  if (!stdout.includes('drawn'))
    throw new Error(`the child never drew its screen (exit ${code}, ${signal}): ${stderr}`);
  return { code, signal, transcript: await readFile(outPath, 'utf8') };
}

t.test('an uncaught error: the terminal is restored first, then the error is reported, exit 1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-tui-restore-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [kind, message] of [
    ['throw', 'boom from a timer'],
    ['reject', 'boom from a promise'],
  ] as const) {
    const run = await runChild(kind, dir);
    t.equal(run.code, 1, `${kind}: exit status 1`);
    const report = run.transcript.indexOf(`<stderr>modeldeck: unexpected error: Error: ${message}`);
    t.ok(report !== -1, `${kind}: the error is reported on stderr`, { transcript: run.transcript.slice(-400) });
    const terminal = run.transcript.slice(0, report);
    assertRestored(t, terminal, `${kind}, before the report`);
    t.ok(
      terminal.indexOf('<raw true>') < terminal.lastIndexOf('<raw false>'),
      `${kind}: raw mode off before the report`,
    );
    t.match(run.transcript.slice(report), /\n\s+at /, `${kind}: with its stack, readable on the normal screen`);
  }
});

t.test('SIGTERM: the terminal is restored and the command exits 0', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-tui-restore-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const run = await runChild('sigterm', dir);
  t.equal(run.signal, null, 'not killed by the signal: the command handled it');
  t.equal(run.code, 0);
  assertRestored(t, run.transcript, 'after SIGTERM');
  t.ok(run.transcript.lastIndexOf('<raw false>') > run.transcript.lastIndexOf('<raw true>'), 'raw mode off');
  t.notMatch(run.transcript, '<stderr>', 'nothing on stderr');
  t.match(run.transcript, /<resolved 0>$/, 'the command resolved 0 after restoring');
});

t.test(
  'the terminal gone (its writes fail with EIO, then SIGHUP): ended as q ends it, exit 0, no report',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'modeldeck-tui-restore-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const run = await runChild('hangup', dir);
    t.equal(run.signal, null, 'not killed by the signal: the command handled it');
    t.ok(run.transcript.includes('<EIO>'), 'the restore sequences met the closed terminal');
    t.notMatch(run.transcript, '<stderr>', 'no "unexpected error" report: a closed terminal is an ordinary end');
    t.equal(run.code, 0);
    t.match(run.transcript, /<resolved 0>$/, 'the command resolved 0');
  },
);
