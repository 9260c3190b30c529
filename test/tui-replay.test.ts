// Replay: a saved log parsed back (and refused with a clear error when it is not one), played on a fake clock at a
// speed factor with pause and step, and a real headless dashboard session saved with w and replayed headless.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { runReplayCommand } from '../src/cli/replay.js';
import { main } from '../src/cli/main.js';
import { startDashboard } from '../src/tui/dashboard.js';
import type { LoadEvent } from '../src/protocol/events.js';
import { createReplaySource, parseReplayLog, recordLine, type ReplayRecord } from '../src/tui/replay-log.js';
import { clockTime } from '../src/tui/wire-log-view.js';
import type { KeyPress } from '../src/tui/keys.js';
import { COMMAND_KEYS } from '../src/tui/keys/session.js';

import { cellText, ROWS, startKillableServer, terminal } from './helpers/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { createFakeClock } from './helpers/fake-clock.js';
import { startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';

/** The first key the commands table binds to `action`, as blessed would report it. */
function keyOf(action: string): KeyPress {
  const spelling = COMMAND_KEYS.find((row) => row.action === action)?.keys[0];
  if (spelling === undefined) throw new Error(`no key for ${action}`);
  if (spelling.length === 1) return { ch: spelling, name: spelling.toLowerCase(), shift: /[A-Z]/.test(spelling) };
  const parts = spelling.split('-');
  const key = parts.at(-1) ?? '';
  return { name: key.toLowerCase(), ctrl: parts.includes('Ctrl'), ...(key === 'Enter' ? { ch: '\r' } : {}) };
}

const dir = await mkdtemp(join(tmpdir(), 'modeldeck-replay-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** Runs `modeldeck replay ARGS` with its own streams; resolves with the status and what it wrote. */
async function replay(args: readonly string[]) {
  const stderr = new PassThrough();
  const stdout = new PassThrough();
  let err = '';
  let out = '';
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  const status = await runReplayCommand(args, { stderr, output: stdout });
  return { status, err, out };
}

const T0 = Date.parse('2026-01-02T03:04:05.000Z');
const open: ReplayRecord = { time: T0, session: 's1', kind: 'open', server: 'http://127.0.0.1:1', model: MODEL };
const lines = (records: readonly ReplayRecord[]): string => records.map((r) => `${recordLine(r)}\n`).join('');

t.test('bad files get a clear error and exit status 2, never a crash', async (t) => {
  const write = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const cases: [string, string[], RegExp][] = [
    ['missing', [join(dir, 'nope.jsonl')], /nope\.jsonl: no such file/],
    ['a directory', [dir], /is a directory, not a saved log/],
    ['not JSON Lines', [await write('text.jsonl', 'hello\nworld\n')], /line 1 is not JSON/],
    [
      'wrong shape',
      [
        await write(
          'shape.jsonl',
          `${recordLine(open)}\n{"time": "2026-01-02T03:04:06Z", "session": "s1", "kind": "x"}\n`,
        ),
      ],
      /line 2: unknown kind "x"/,
    ],
    [
      'a bad wire record',
      [
        await write(
          'wire.jsonl',
          `${recordLine(open)}\n{"time": "2026-01-02T03:04:06Z", "session": "s1", "kind": "wire", "record": {"kind": "line", "stream": "s1 load", "at": 1, "line": {"text": "x"}, "frame": 0}}\n`,
        ),
      ],
      /line 2: a "wire" line's record: a "line" record needs a "line" \(text, ending, field, value\)/,
    ],
    ['an array line', [await write('array.jsonl', '[1, 2]\n')], /line 1: not a JSON object/],
    [
      'a bad time',
      [await write('time.jsonl', '{"time": "soon", "session": "s1", "kind": "data", "raw": "x"}\n')],
      /line 1: "time" is not an ISO 8601 time/,
    ],
    ['an empty log', [await write('empty.jsonl', '')], /the log is empty: nothing to replay/],
    [
      'frames only (an old save)',
      [
        await write(
          'frames.jsonl',
          '{"time": "2026-01-02T03:04:05.000Z", "session": "s1", "kind": "data", "raw": "{}"}\n',
        ),
      ],
      /opens no session/,
    ],
    ['no file', [], /give the saved log to replay/],
    ['a bad speed', [await write('ok.jsonl', lines([open])), '--speed', '0'], /--speed must be a positive number/],
    ['an unknown flag', ['--fast', 'x.jsonl'], /Unknown option '--fast'/],
  ];
  for (const [what, args, message] of cases) {
    const run = await replay(args);
    t.equal(run.status, 2, `${what}: exit status 2`);
    t.match(run.err, message, `${what}: says why`);
    t.match(run.err, /^modeldeck replay: /, `${what}: one line, named`);
  }
  const help = await replay(['--help']);
  t.equal(help.status, 0);
  t.match(help.out, /Usage: modeldeck replay FILE \[--speed X\]/);
  t.match(help.out.replace(/\s+/g, ' '), /space pauses and resumes the replay, \. plays the next saved line/);
  // Registered in the CLI, and named in its help.
  const stdout = process.stdout.write.bind(process.stdout);
  let mainOut = '';
  process.stdout.write = ((chunk: string) => ((mainOut += chunk), true)) as typeof process.stdout.write;
  const statuses: number[] = [];
  try {
    statuses.push(await main(['replay', '--help']), await main(['--help']));
  } finally {
    process.stdout.write = stdout;
  }
  t.same(statuses, [0, 0]);
  t.match(mainOut, /Usage: modeldeck replay FILE/);
  t.match(mainOut, /replay FILE +open the dashboard on a log saved with Ctrl-S/);
});

t.test(
  'the source plays records at their gaps divided by the speed, pauses and steps, on the injected clock',
  async (t) => {
    const records: ReplayRecord[] = [0, 1000, 3000, 3000, 7000].map((dt, i) => ({
      time: T0 + dt,
      session: 's1',
      kind: 'data',
      raw: `r${i}`,
    }));
    const parsed = parseReplayLog(lines([open, ...records]));
    t.ok(parsed.ok, 'our own lines parse back');
    t.same(parsed.ok ? parsed.records : [], [open, ...records], 'to the same records');

    const clock = createFakeClock(5_000);
    const played: [string, number][] = [];
    let ended = 0;
    const source = createReplaySource({
      records,
      clock,
      speed: 2,
      onRecord: (r, now) => played.push([r.kind === 'data' ? r.raw : r.kind, now - 5_000]),
      onEnd: () => ended++,
    });
    source.start();
    t.same(played, [['r0', 0]], 'the first at once');
    clock.advance(499);
    t.equal(played.length, 1, 'a 1 s gap at speed 2 is not over at 499 ms');
    clock.advance(1);
    t.same(played.at(-1), ['r1', 500], 'and is at 500 ms');
    clock.advance(1000);
    t.same(
      played.slice(2),
      [
        ['r2', 1500],
        ['r3', 1500],
      ],
      'a 2 s gap takes 1 s; records of one time play together',
    );
    // Pause halfway through the 4 s gap (2 s at speed 2): nothing plays however long it stays paused.
    clock.advance(1000);
    source.toggle();
    t.ok(source.paused());
    clock.advance(60_000);
    t.equal(played.length, 4, 'paused: nothing plays');
    source.toggle();
    clock.advance(999);
    t.equal(played.length, 4, 'resumed: the rest of the gap (1 s) is waited');
    clock.advance(1);
    t.same(played.at(-1), ['r4', 63_500]);
    t.equal(ended, 1, 'the end is reported once');
    t.equal(source.step(), false, 'no step past the end');

    // Stepping: pauses, then plays one record per step.
    const stepped: string[] = [];
    const stepper = createReplaySource({
      records,
      clock,
      onRecord: (r) => stepped.push(r.kind === 'data' ? r.raw : r.kind),
    });
    stepper.start();
    t.equal(stepper.step(), true);
    t.ok(stepper.paused(), 'a step pauses');
    clock.advance(60_000);
    t.same(stepped, ['r0', 'r1'], 'and the clock plays nothing more');
    stepper.step();
    t.same(stepped, ['r0', 'r1', 'r2']);
    t.equal(stepper.played(), 3);
    t.equal(stepper.total, 5);
    stepper.dispose();
    t.throws(() => createReplaySource({ records, clock, speed: 0, onRecord: () => {} }), /positive number/);
  },
);

t.test('a saved headless session replayed headless shows the same session pane', async (t) => {
  const models = await demoModelsDir();
  const mirror = await startTestMirror(models, { throttle: 250_000 });
  t.teardown(() => mirror.close());
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const work = join(dir, 'session');
  await mkdir(work);

  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [{ server: srv.url, model: MODEL }],
    input,
    output,
    cwd: work,
    maxTokens: 16,
  });
  t.teardown(() => dash.shutdown());
  await until('ready', () => dash.sessions()[0]?.phase === 'ready');
  input.write('\rhello there');
  await until('the input line', () => cellText(dash, 0, 1).includes('> hello there'));
  input.write('\r');
  await until('a finished reply', () => {
    const s = dash.sessions()[0];
    const last = s?.transcript.at(-1);
    return s && !s.chatBusy && last?.role === 'assistant' && last.content.length > 0;
  });
  input.write('\x1b'); // stop typing
  await until('commands', () => !dash.ui().composing);
  const shownAt = Date.now();
  const shown = cellText(dash, 0, 1);
  const frames = dash.logEntries().map((e) => `${e.session} ${e.kind} ${e.raw}`);
  input.write('l');
  input.write('\x13');
  const offered = await until('the save prompt', () =>
    dash.ui().prompt?.kind === 'save' ? dash.ui().prompt?.text : undefined,
  );
  input.write(`${'\x7f'.repeat([...offered].length)}session.jsonl\r`);
  await until('saved', () => /saved \d+ log lines/.test(dash.screenText().split('\n')[ROWS - 1] ?? ''));
  dash.shutdown();
  const journalLine = (e: ReturnType<typeof dash.journalEntries>[number]) =>
    `${e.stream} ${e.kind} ${e.gapMs} ${e.stall} ${e.text} ${JSON.stringify(e.lines)} ${e.answer?.status}`;
  const liveJournal = dash.journalEntries().map(journalLine);

  const text = await readFile(join(work, 'session.jsonl'), 'utf8');
  const parsed = parseReplayLog(text);
  if (!parsed.ok) throw new Error(parsed.message);
  const kinds = new Set(parsed.records.map((r) => (r.kind === 'update' ? `update:${r.update.type}` : r.kind)));
  for (const kind of [
    'open',
    'update:connecting',
    'update:event',
    'update:chat-sent',
    'update:chat-delta',
    'update:chat-done',
    'data',
    'wire',
  ]) {
    t.ok(kinds.has(kind), `the file holds ${kind}`);
  }

  // Replayed on a fake clock that starts where the session started: no network (the server is gone), same screen.
  await srv.close();
  const t0 = parsed.records[0]?.time ?? 0;
  const clock = createFakeClock(t0);
  const term = terminal();
  const again = startDashboard({ replay: { records: parsed.records }, clock, input: term.input, output: term.output });
  t.teardown(() => again.shutdown());
  clock.advance(shownAt - t0);
  t.equal(again.replay?.played(), again.replay?.total, 'every record played by the time the original was read');
  t.equal(cellText(again, 0, 1), shown, 'the session pane reads the same: gauges, stages, the chat');
  t.match(cellText(again, 0, 1), 'you: hello there');
  t.same(
    again.logEntries().map((e) => `${e.session} ${e.kind} ${e.raw}`),
    frames,
    'the log holds the same frames, in order',
  );
  t.same(
    again.logEntries().map((e) => e.time),
    parsed.records.flatMap((r) => (r.kind === 'data' || r.kind === 'comment' || r.kind === 'other' ? [r.time] : [])),
    'at their original times (speed 1, the clock started at the first record)',
  );
  // The debug and wire views are rebuilt from the saved tap records: the same entries, gaps, lines and answers.
  const replayedJournal = again.journalEntries().map(journalLine);
  t.ok(
    replayedJournal.some((line) => line.startsWith('s1 load answer')) &&
      replayedJournal.some((line) => line.startsWith('s1 chat answer')),
    'the load and chat streams are there, with their HTTP answers',
  );
  t.same(replayedJournal, liveJournal.slice(0, replayedJournal.length), 'the journal reads as it did live');
  t.ok(replayedJournal.length >= liveJournal.length - 5, 'all of it but what came after the save');

  // The keys: space pauses (the status bar says so), . steps, ? lists both.
  const paused = startDashboard({
    replay: { records: parsed.records, speed: 10 },
    clock,
    input: term.input,
    output: term.output,
  });
  t.teardown(() => paused.shutdown());
  again.shutdown();
  paused.press({ name: 'space', ch: ' ' });
  t.ok(paused.replay?.paused(), 'space paused the replay');
  t.match(paused.screenText().split('\n')[ROWS - 1] ?? '', /replay: paused at 1\/\d+/);
  clock.advance(600_000);
  t.equal(paused.replay?.played(), 1, 'nothing plays while paused');
  paused.press({ ch: '.' });
  t.equal(paused.replay?.played(), 2, '. played one more');
  paused.press({ ch: '?' });
  // The help may be paged: turn the pages as a person would.
  let help = paused.screenText();
  for (let page = 0; page < 5 && !/pause \/ resume a replay/.test(help); page++) {
    paused.press({ name: 'pagedown' });
    help = paused.screenText();
  }
  t.match(help, /pause \/ resume a replay/, '? lists the replay keys');
});

t.test('the command opens the dashboard on a good file and quits with status 0', async (t) => {
  const path = join(dir, 'good.jsonl');
  await writeFile(path, lines([open, { time: T0 + 10, session: 's1', kind: 'data', raw: '{"status": "loading"}' }]));
  const { input, output } = terminal();
  let screen = '';
  output.on('data', (c: Buffer) => (screen += c.toString()));
  const status = runReplayCommand([path, '--speed', '4'], { input, output, stderr: new PassThrough() });
  await until('the session opened', () => screen.includes(MODEL));
  // The replayed log is something to lose: the first Ctrl-C asks, the second quits.
  input.write('\x03');
  input.write('\x03');
  t.equal(await status, 0);
});

t.test('a named session is replayed under its name', async (t) => {
  const clock = createFakeClock(T0);
  const term = terminal();
  const records: ReplayRecord[] = [
    { ...open, session: 'gpu-box' },
    { time: T0 + 10, session: 'gpu-box', kind: 'data', raw: '{"status": "ready", "model": "x"}' },
    { ...open, time: T0 + 20, session: 's2' },
  ];
  const dash = startDashboard({ replay: { records }, clock, input: term.input, output: term.output });
  t.teardown(() => dash.shutdown());
  clock.advance(100);
  t.same(
    dash.sessions().map((s) => s.tag),
    ['gpu-box', 's2'],
  );
  t.same(
    dash.logEntries().map((e) => e.session),
    ['gpu-box'],
    'its frames too',
  );
});

t.test(
  '--speed 4 shows the recording: its durations, speeds and log times, a REPLAY banner; live keys off',
  async (t) => {
    // A 10 s load of 146 MB (14.6 MB/s), recorded; played at 4 times the speed on a hand-driven clock.
    const at = (ms: number) => T0 + ms;
    const event = (ms: number, data: string): ReplayRecord[] => {
      const parsedEvent = JSON.parse(data) as LoadEvent;
      return [
        { time: at(ms), session: 's1', kind: 'update', update: { type: 'event', at: at(ms), event: parsedEvent } },
        { time: at(ms), session: 's1', kind: 'data', raw: data },
      ];
    };
    const download = (ms: number, current: number) =>
      event(
        ms,
        `{"status": "loading", "model": "${MODEL}@main", "stage": "download", "progress": {"current": ${current}, "total": 146000000}}`,
      );
    const records: ReplayRecord[] = [
      open,
      { time: at(0), session: 's1', kind: 'update', update: { type: 'connecting', at: at(0), attempt: 1 } },
      ...event(0, `{"status": "loading", "model": "${MODEL}@main", "stage": "processor"}`),
      ...download(0, 0),
      ...download(5000, 73_000_000),
      ...download(10_000, 146_000_000),
      ...event(10_000, `{"status": "ready", "model": "${MODEL}@main", "cached": false}`),
    ];
    const clock = createFakeClock(T0 + 123_456);
    const term = terminal();
    const dash = startDashboard({ replay: { records, speed: 4 }, clock, input: term.input, output: term.output });
    t.teardown(() => dash.shutdown());
    const status = (): string => dash.screenText().split('\n')[ROWS - 1] ?? '';

    clock.advance(1250);
    t.match(status(), /^REPLAY 00:05 \/ 00:10 ×4 /, 'halfway: the banner says where the recording stands');
    t.match(cellText(dash, 0, 1), /download 73\.0 MB \/ 146 MB · 14\.6 MB\/s/, 'the speed as recorded');
    t.match(cellText(dash, 0, 1), /download 5\.0s/, 'the stage’s time as recorded');
    clock.advance(1250);
    t.equal(dash.replay?.played(), dash.replay?.total);
    t.match(cellText(dash, 0, 1), '✓ ready in 10s · 146 MB at 14.6 MB/s', 'the load as it was: 10 s at 14.6 MB/s');
    t.match(status(), /^REPLAY 00:10 \/ 00:10 ×4 end /);
    t.match(dash.screenText(), `${clockTime(at(10_000))} s1`, 'log lines at their recorded times');

    // Each action by the key its binding row gives it (whatever letters or chords the tables use).
    for (const [action, note] of [
      ['type', /replay: typing a message is live only/],
      ['add', /replay: adding a session is live only/],
      ['unload', /replay: unloading a model is live only/],
      ['edit', /replay: editing a session is live only/],
      ['options', /replay: chat settings is live only/],
    ] as const) {
      dash.press(keyOf(action));
      t.match(status(), note, `${action}: off, with a note`);
      t.equal(dash.ui().prompt, null, 'no prompt opened');
      t.notOk(dash.ui().composing, 'not typing');
    }
    dash.press(keyOf('jump-prompt'));
    t.equal(dash.ui().prompt?.kind, 'jump', 'viewing keys still work');
  },
);

t.test('the recording’s clock: moves at the speed, still while paused, never past the next record', async (t) => {
  const clock = createFakeClock(50);
  const records: ReplayRecord[] = [open, { time: T0 + 10_000, session: 's1', kind: 'data', raw: 'x' }];
  const source = createReplaySource({ records, clock, speed: 4, onRecord: () => {} });
  source.start();
  t.equal(source.position(), T0);
  clock.advance(1000);
  t.equal(source.position(), T0 + 4000, '1 s at ×4 is 4 s of the recording');
  source.toggle();
  clock.advance(5000);
  t.equal(source.position(), T0 + 4000, 'paused: still');
  source.toggle();
  clock.advance(500);
  t.equal(source.position(), T0 + 6000, 'resumed from where it paused');
  clock.advance(60_000);
  t.equal(source.position(), T0 + 10_000, 'at the end, the last record’s time');
  t.same(source.span, { start: T0, end: T0 + 10_000 });
});
