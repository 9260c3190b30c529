// The view model, pure: what a person would read, from states built by the reducer over recorded streams.
import t from 'tap';
import { formatBytes } from '../src/client/format.js';
import { parseLoadEvent } from '../src/protocol/events.js';
import { createEventLog } from '../src/tui/event-log.js';
import { createUiState, KEY_HELP, type Prompt } from '../src/tui/keys.js';
import type { ModelChoices } from '../src/tui/model-list.js';
import { createServerState, reduceServer, type ServerAction } from '../src/tui/server-state.js';
import { createSessionState, reduceSession, type SessionAction, type SessionState } from '../src/tui/session-state.js';
import { textBar } from '../src/tui/lines.js';
import { gridLayout } from '../src/tui/screen-layout.js';
import { sessionLines } from '../src/tui/session-pane.js';
import { wrap } from '../src/tui/text-wrap.js';
import { helpPageCount, logLine, toViewModel, type Line } from '../src/tui/view-model.js';

const text = (lines: readonly Line[]): string => lines.map((l) => l.map((s) => s.text).join('')).join('\n');

function session(payloads: string[], extra: SessionAction[] = []): SessionState {
  let s = createSessionState({ id: 's1', tag: 's1', server: 'http://127.0.0.1:8000', model: 'org/model' });
  s = reduceSession(s, { type: 'connecting', at: 0, attempt: 1 });
  payloads.forEach((p, i) => {
    const parsed = parseLoadEvent(p);
    if (!parsed.ok) throw new Error(parsed.error);
    s = reduceSession(s, { type: 'event', at: (i + 1) * 1000, event: parsed.event });
  });
  for (const a of extra) s = reduceSession(s, a);
  return s;
}

const cell = (s: SessionState, now = 10_000, width = 60, height = 20, detail = false) =>
  text(sessionLines(s, { width, height, now, focused: true, composing: false, input: '', detail }));

t.test('wrapping breaks at spaces', async (t) => {
  t.same(wrap('the quick brown fox', 9), ['the quick', 'brown fox']);
  t.same(wrap('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
  t.same(wrap('a\nb', 5), ['a', 'b']);
});

t.test('text bars', async (t) => {
  t.equal(textBar(50, 20), '[███████░░░░░░]  50%');
  t.equal([...textBar(50, 20)].length, 20);
});

t.test('a download in progress: bytes, speed, ETA, percentage; stage times', async (t) => {
  const s = session([
    '{"status": "loading", "model": "org/model@main", "stage": "processor"}',
    '{"status": "loading", "model": "org/model@main", "stage": "config"}',
    '{"status": "loading", "model": "org/model@main", "stage": "download", "progress": {"current": 0, "total": 10000000}}',
    '{"status": "loading", "model": "org/model@main", "stage": "download", "progress": {"current": 2000000, "total": 10000000}}',
  ]);
  const out = cell(s, 4500);
  t.match(out, 'http://127.0.0.1:8000');
  t.match(out, '● loading: download');
  t.match(out, /download 2\.00 MB \/ 10\.0 MB · [\d.]+ [kM]B\/s · ETA \d/);
  t.match(out, /\[█+░+\] {2}20%/);
  t.match(out, 'weights · waiting');
  t.match(out, 'processor 1.0s · config 1.0s · download 1.5s', 'the running stage counts up to now');
});

t.test('total null: bytes so far, no percentage; unknown stage shown by name', async (t) => {
  const s = session([
    '{"status":"loading","model":"org/model@main","stage":"download","progress":{"current":1500,"total":null}}',
    '{"status":"loading","model":"org/model@main","stage":"download","progress":{"current":3000,"total":null}}',
    '{"status":"loading","model":"org/model@main","stage":"compiling"}',
  ]);
  const out = cell(s);
  t.match(out, 'download 3.00 kB so far');
  t.match(out, 'no percentage');
  t.notMatch(out, /\d+%/, 'no percentage anywhere');
  t.match(out, '● loading: compiling');
});

t.test('ready, cached, error with what to do, reconnecting with a countdown', async (t) => {
  const ready = session([
    '{"status": "loading", "model": "org/model@main", "stage": "weights", "progress": {"current": 3, "total": 3}}',
    '{"status": "ready", "model": "org/model@main", "cached": false}',
  ]);
  t.match(cell(ready), '✓ ready in 1.0s · files already on disk', 'a finished load is one summary line');
  t.notMatch(cell(ready), 'weights', 'its gauges give their rows to the chat');
  t.notMatch(cell(ready), 'processor', 'and so do its stage times');
  // Zoomed, the cell has room for the detail.
  t.match(cell(ready, 10_000, 60, 20, true), /weights 3 \/ 3 items\n\[█+\] 100%/);
  t.match(cell(ready, 10_000, 60, 20, true), 'download · not needed (files already on disk)');
  t.match(cell(ready), 'type to chat');
  const downloaded = session([
    '{"status": "loading", "model": "org/model@main", "stage": "processor"}',
    '{"status": "loading", "model": "org/model@main", "stage": "download", "progress": {"current": 0, "total": 8000000}}',
    '{"status": "loading", "model": "org/model@main", "stage": "download", "progress": {"current": 8000000, "total": 8000000}}',
    '{"status": "loading", "model": "org/model@main", "stage": "weights", "progress": {"current": 3, "total": 3}}',
    '{"status": "ready", "model": "org/model@main", "cached": false}',
  ]);
  // Stages from 1 s to 5 s; the download's samples at 2 s (0) and 3 s (8 MB): 8 MB in 1 s, the chart's time base.
  t.match(
    cell(downloaded),
    '✓ ready in 4.0s · 8.00 MB at 8.00 MB/s',
    'the whole load, then the download’s bytes over the time its samples span',
  );
  t.match(cell(downloaded, 10_000, 24), /^✓ ready in 4\.0s · [^\n]*…$/m, 'cut with an ellipsis when narrow');
  t.match(
    cell(session(['{"status": "ready", "model": "org/model@main", "cached": true}'])),
    '✓ ready · cached (already in server memory)',
  );

  const failed = session([
    '{"status": "error", "model": "org/model@main", "message": "Repository not found: org/model"}',
  ]);
  const failedText = cell(failed);
  t.match(failedText, '✗ error · r retries');
  t.match(failedText, 'Repository not found: org/model');
  t.match(failedText, 'failed loads are not cached');

  const stopped = cell(
    session([
      '{"status": "error", "model": "org/model@main", "code": "CANCELLED", "message": "loading org/model@main was cancelled"}',
    ]),
  );
  t.match(stopped, '○ load cancelled · r loads again and resumes', 'a cancelled load says so');
  t.notMatch(stopped, '✗ error', 'and is not shown as an error');
  t.match(failedText, 'chat opens when the model is ready');

  const lost = session(
    ['{"status": "loading", "model": "org/model@main", "stage": "processor"}'],
    [
      {
        type: 'failed',
        at: 2000,
        failure: { kind: 'network', message: 'connection lost mid-load: terminated' },
        retryAt: 6000,
      },
    ],
  );
  t.match(cell(lost, 2500), '↻ reconnecting in 4s');
  t.match(cell(lost, 2500), 'connection lost mid-load: terminated');
  t.match(cell(lost, 2500), 'reconnecting');
});

t.test('the transcript streams and the input line shows what is typed', async (t) => {
  const s = session(
    ['{"status": "ready", "model": "org/model@main", "cached": true}'],
    [
      { type: 'chat-sent', at: 1, text: 'hello' },
      { type: 'chat-delta', at: 2, text: 'Hi the' },
    ],
  );
  const out = text(
    sessionLines(s, { width: 40, height: 16, now: 3, focused: true, composing: true, input: 'next one' }),
  );
  t.match(out, 'you: hello');
  t.match(out, 'model: Hi the▍', 'a cursor marks the reply still arriving');
  t.match(out, '· replying…');
  t.match(out.split('\n').at(-1), '> next one█', 'the input line is last');
  const small = sessionLines(s, { width: 40, height: 5, now: 3, focused: true, composing: false, input: '' });
  t.equal(small.length, 5, 'never more lines than fit');
  t.ok(
    small.every((l) => l.reduce((n, seg) => n + [...seg.text].length, 0) <= 40),
    'nor wider',
  );
});

t.test('grid layout adapts to the terminal and the session count', async (t) => {
  const area = { left: 0, top: 0, width: 160, height: 30 };
  t.same(gridLayout(1, area), [{ left: 0, top: 0, width: 160, height: 30 }]);
  t.same(
    gridLayout(2, area).map((r) => [r.left, r.top, r.width, r.height]),
    [
      [0, 0, 80, 30],
      [80, 0, 80, 30],
    ],
  );
  const four = gridLayout(4, { left: 0, top: 0, width: 100, height: 40 });
  t.same(
    four.map((r) => [r.left, r.top]),
    [
      [0, 0],
      [50, 0],
      [0, 20],
      [50, 20],
    ],
    'a 2×2 grid on a squarish area',
  );
  const narrow = gridLayout(3, { left: 0, top: 0, width: 60, height: 60 });
  t.ok(
    narrow.every((r) => r.width === 60),
    'a narrow terminal stacks sessions',
  );
  const five = gridLayout(5, { left: 0, top: 0, width: 200, height: 30 });
  const covered = five.reduce((n, r) => n + r.width * r.height, 0);
  t.equal(covered, 200 * 30, 'cells tile the area exactly');
});

t.test('the whole screen: cells, log pane with marked kinds, status bar, help', async (t) => {
  const log = createEventLog(100);
  log.append(Date.UTC(2026, 0, 1, 10, 0, 0), 's1', 'data', '{"status": "ready"}');
  log.append(Date.UTC(2026, 0, 1, 10, 0, 1), 's1', 'comment', 'keep-alive');
  log.append(Date.UTC(2026, 0, 1, 10, 0, 2), 's2', 'other', 'HTTP 401 {}');
  const s1 = session(['{"status": "ready", "model": "org/model@main", "cached": true}']);
  const s2 = { ...s1, id: 's2', tag: 's2' };
  const ui = { ...createUiState(), focus: 1, log: { ...createUiState().log, paused: true, pausedAtSeq: 1 } };
  const view = toViewModel({
    sessions: [s1, s2],
    ui,
    log,
    size: { cols: 120, rows: 40 },
    now: 0,
    notice: null,
    defaultServer: 'http://x',
  });
  t.equal(view.cells.length, 2);
  t.same(
    view.cells.map((c) => c.focused),
    [false, true],
  );
  t.match(view.cells[0]?.title, 's1 org/model');
  t.match(view.log.title, 'PAUSED · 2 new');
  t.equal(view.log.lines.length, 1, 'paused: only what was there');
  const live = toViewModel({
    sessions: [s1, s2],
    ui: createUiState(),
    log,
    size: { cols: 120, rows: 40 },
    now: 0,
    notice: null,
    defaultServer: 'http://x',
  });
  const logText = text(live.log.lines);
  // Tags take one width (the longest session tag, 4 at least), so the columns after them line up.
  t.match(logText, /s1 {3}data: {2}\{"status": "ready"\}/);
  t.match(logText, /s1 {3}: {6}keep-alive/, 'comments marked, payloads in one column');
  t.match(logText, /s2 {3}# {6}HTTP 401/, 'other lines marked');
  t.match(text([live.status.line]), '[s1] commands: ? help · Q quit · Enter type · Tab next');
  t.equal(live.help, null);
  const help = toViewModel({
    sessions: [],
    ui: { ...createUiState(), help: true },
    log,
    size: { cols: 100, rows: 30 },
    now: 0,
    notice: null,
    defaultServer: 'http://x',
  });
  t.match(text(help.help?.lines ?? []), 'Tab / Shift-Tab');
  t.match(text(help.cells[0]?.lines ?? []), 'No sessions. Press Ctrl-N');
  const prompt = toViewModel({
    sessions: [],
    ui: { ...createUiState(), prompt: { kind: 'add-server', text: 'http://', error: 'nope' } },
    log,
    size: { cols: 120, rows: 30 },
    now: 0,
    notice: null,
    defaultServer: 'http://d:1',
  });
  t.match(text([prompt.status.line]), 'add session · server URL [Enter: http://d:1]: http://█  nope');
  t.match(text([logLine(log.fromEnd(2)!, 20)]), /…$/, 'long log lines are cut with a mark');
});

t.test(
  'a model prompt shows the server ids matching what is typed, cut with an ellipsis, or why there are none',
  async (t) => {
    const status = (prompt: Prompt, choices: ModelChoices, cols = 120): string =>
      text([
        toViewModel({
          sessions: [],
          ui: { ...createUiState(), prompt },
          log: createEventLog(10),
          size: { cols, rows: 30 },
          now: 0,
          notice: null,
          defaultServer: 'http://d:1',
          modelChoices: choices,
        }).status.line,
      ]);
    const ids = ['org/a-one@main', 'org/a-two@main', 'org/a-three@main', 'org/b@main'];
    const prompt: Prompt = { kind: 'add-model', text: 'org/a', server: 'http://d:1' };
    const listed: ModelChoices = { ids, state: 'listed', message: null };
    t.match(status(prompt, listed, 160), 'org/a█  3 on server: org/a-one@main, org/a-three@main, org/a-two@main');
    const narrow = status(prompt, listed, 120 - 20);
    t.match(narrow, /org\/a-one@main, …$/, 'cut at a whole id, with an ellipsis');
    t.notMatch(narrow, 'org/b@main', 'only the matches');
    t.match(status({ ...prompt, text: 'zz' }, listed), 'none of the', 'no match: says so');
    t.match(status({ ...prompt, text: 'zz' }, listed), 'any id works');
    t.match(status(prompt, { ids: [], state: 'asking', message: null }), 'asking the server for its models…');
    const failed = status(prompt, {
      ids: [],
      state: 'failed',
      message: 'HTTP 401 Unauthorized: the API key is not valid',
    });
    t.match(failed, 'models not listed: HTTP 401');
    t.match(failed, /any id works$/, 'a long reason is cut, the line still ends saying typing works');
    const cycling = status({ ...prompt, text: 'org/a-three@main', completing: { base: 'org/a', index: 1 } }, listed);
    t.match(cycling, '3 on server: org/a-one@main', 'while cycling: the matches of the text the cycle started from');
  },
);

/** A gauge as a person reads it: its label line, the line under it, and the percentage on that bar (if any). */
function gaugeOf(
  out: string,
  stage: 'download' | 'weights',
): { label: string; bar: string; percent: number | undefined } {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${stage} `));
  if (at === -1) throw new Error(`no ${stage} gauge in:\n${out}`);
  const bar = lines[at + 1] ?? '';
  const m = /^\[[█░]+\]\s+(\d+)%$/.exec(bar);
  return { label: lines[at] ?? '', bar, percent: m ? Number(m[1]) : undefined };
}

/** The cell after each of `payloads` in turn (one event a second; read half a second after the latest). */
/** Zoomed (the detail kept once ready). */
function cellsAlong(payloads: string[]): string[] {
  return payloads.map((_, i) => cell(session(payloads.slice(0, i + 1)), (i + 1) * 1000 + 500, 60, 20, true));
}

t.test('the weights gauge moves through intermediate values, increasing, to 100%', async (t) => {
  // A fresh load of a ~96 MiB model as modeldeck sends it: one item per MiB read, one for the session built.
  const weights = [0, 12, 31, 58, 80, 96, 97].map(
    (current) =>
      `{"status": "loading", "model": "org/model@main", "stage": "weights", "progress": {"current": ${current}, "total": 97}}`,
  );
  const payloads = [
    '{"status": "loading", "model": "org/model@main", "stage": "processor"}',
    '{"status": "loading", "model": "org/model@main", "stage": "config"}',
    ...weights,
    '{"status": "ready", "model": "org/model@main", "cached": false}',
  ];
  const cells = cellsAlong(payloads);
  t.match(cells[1], 'weights · waiting', 'before the stage: waiting, no bar');
  const seen = cells.slice(2, 2 + weights.length).map((out) => gaugeOf(out, 'weights'));
  t.same(
    seen.map((g) => g.percent),
    [0, 12, 31, 59, 82, 98, 100],
    'the percentage follows the items, floored (100 only once the last item is done)',
  );
  for (let i = 1; i < seen.length; i++)
    t.ok((seen[i]?.percent ?? -1) > (seen[i - 1]?.percent ?? 0), `it increases at frame ${i}`);
  t.ok(
    seen.filter((g) => g.percent !== undefined && g.percent > 0 && g.percent < 100).length >= 4,
    'several intermediate values',
  );
  t.same(
    seen.map((g) => /^weights (\d+) \/ 97 items/.exec(g.label)?.[1]),
    ['0', '12', '31', '58', '80', '96', '97'],
    'the label counts the items',
  );
  t.match(seen[3]?.label, /· ETA \d/, 'an ETA while the stage runs');
  t.notMatch(seen[6]?.label, 'ETA', 'none once complete');
  const bars = seen.map((g) => [...g.bar].filter((c) => c === '█').length);
  t.ok(
    bars.every((n, i) => i === 0 || n >= (bars[i - 1] ?? 0)),
    `the bar fills: ${bars}`,
  );
  t.ok((bars[0] ?? 1) < (bars.at(-1) ?? 0), 'from empty to full');
  const ready = gaugeOf(cells.at(-1) ?? '', 'weights');
  t.equal(ready.percent, 100, 'still 100% once ready');
  t.match(cells.at(-1), '✓ ready');
});

t.test(
  "upstream's download total grows mid-stage and may be null: the new total is shown, never over 100%",
  async (t) => {
    // `transformers serve` announces files as it finds them: its total grows, so its percentage can go backwards
    // (protocol page, "Progress is honest"); a null total means bytes so far, no percentage ("What a modeldeck client
    // tolerates"). Upstream's own spacing.
    const download = (current: number, total: number | null) =>
      `{"status": "loading", "model": "org/model@main", "stage": "download", "progress": {"current": ${current}, "total": ${total === null ? 'null' : total}}}`;
    const frames: [number, number | null][] = [
      [0, null],
      [400_000, 500_000],
      [500_000, 500_000],
      [650_000, 2_500_000],
      [1_800_000, 2_500_000],
      [2_600_000, 2_500_000], // a file longer than it was announced: past the total
      [2_700_000, null],
      [2_700_000, 2_700_000],
    ];
    const payloads = [
      '{"status": "loading", "model": "org/model@main", "stage": "processor"}',
      '{"status": "loading", "model": "org/model@main", "stage": "config"}',
      ...frames.map(([c, total]) => download(c, total)),
      '{"status": "loading", "model": "org/model@main", "stage": "weights", "progress": {"current": 136, "total": 272}}',
      '{"status": "ready", "model": "org/model@main", "cached": false}',
    ];
    const cells = cellsAlong(payloads);
    const seen = cells.slice(2, 2 + frames.length).map((out) => gaugeOf(out, 'download'));
    frames.forEach(([current, total], i) => {
      const g = seen[i];
      const what = `frame ${i} (${current} of ${String(total)})`;
      if (total === null) {
        t.match(g?.label, `download ${formatBytes(current)} so far`, `${what}: bytes so far`);
        t.equal(g?.percent, undefined, `${what}: no percentage`);
        t.match(g?.bar, 'no total from the server');
      } else {
        t.match(g?.label, `download ${formatBytes(current)} / ${formatBytes(total)}`, `${what}: the total as sent`);
        t.equal(
          g?.percent,
          Math.min(100, Math.floor((current / total) * 100)),
          `${what}: the percentage of that total`,
        );
      }
      t.notMatch(g?.label, /NaN|Infinity|-\d/, `${what}: no broken figures`);
    });
    t.same(
      seen.map((g) => g.percent),
      [undefined, 80, 100, 26, 72, 100, undefined, 100],
    );
    t.ok(
      seen.every((g) => g.percent === undefined || (g.percent >= 0 && g.percent <= 100)),
      'never above 100%',
    );
    t.ok(
      cells.every((out) => [...out.matchAll(/(\d+)%/g)].every((m) => Number(m[1]) <= 100)),
      'nowhere on the cell',
    );
    t.match(
      seen[3]?.label,
      /download 650 kB \/ 2\.50 MB · [\d.]+ [kM]B\/s · ETA \d/,
      'after the total grew: rate and ETA on the new total',
    );
    t.notMatch(seen[5]?.label, 'ETA', 'past the total: no ETA (nothing left to wait for)');

    const end = session(payloads);
    t.same(
      end.stages.map((s) => s.name),
      ['processor', 'config', 'download', 'weights'],
      'one download stage: a new total does not restart it',
    );
    t.equal(end.stages[2]?.startedAt, 3000, 'its timer started at its first frame');
    t.match(cells.at(-1), '✓ ready');
    t.equal(gaugeOf(cells.at(-1) ?? '', 'download').percent, 100, 'the last figures stay on the gauge');
    // The whole screen draws every step, at a size where the gauge is narrow too.
    for (let i = 1; i <= payloads.length; i++) {
      const view = toViewModel({
        sessions: [session(payloads.slice(0, i))],
        ui: createUiState(),
        log: createEventLog(10),
        size: { cols: 40, rows: 24 },
        now: i * 1000 + 500,
        notice: null,
        defaultServer: 'http://x',
      });
      t.ok(
        view.cells[0]?.lines.every((l) => l.reduce((n, s) => n + [...s.text].length, 0) <= 38),
        `step ${i} fits a narrow cell`,
      );
    }
  },
);

t.test(
  'a download that stops getting bytes: the speed decays, then the ETA gives way to a stall that counts up',
  async (t) => {
    const ev = (current: number) =>
      `{"status": "loading", "model": "org/model@main", "stage": "download", "progress": {"current": ${current}, "total": 10000000}}`;
    // Events at 1 s, 2 s, 3 s; the last one repeats the figure (a server re-sending progress is not progress).
    const s = session([ev(0), ev(2000000), ev(2000000)]);
    const speed = (out: string): number => {
      const m = /download 2\.00 MB \/ 10\.0 MB · ([\d.]+) ([kM])B\/s · ETA/.exec(out);
      if (m === null) throw new Error(`no speed in ${out}`);
      return Number(m[1]) * (m[2] === 'M' ? 1e6 : 1e3);
    };
    const live = cell(s, 2500);
    t.notMatch(live, 'stalled', 'half a second after bytes: live');
    const fresh = speed(live);
    const decayed = speed(cell(s, 5000));
    t.ok(decayed < fresh / 2, `3 s without bytes the speed has decayed (${fresh} -> ${decayed})`);
    const stalled = cell(s, 7000);
    t.match(stalled, 'download 2.00 MB / 10.0 MB · stalled · no data for 5 s', '5 s without bytes: stalled');
    t.notMatch(stalled, /B\/s|ETA/, 'no speed, no ETA while stalled');
    t.match(cell(s, 14_400), 'stalled · no data for 12 s', 'the seconds count up');
    const resumed = reduceSession(s, {
      type: 'event',
      at: 15_000,
      event: (() => {
        const p = parseLoadEvent(ev(2500000));
        if (!p.ok) throw new Error(p.error);
        return p.event;
      })(),
    });
    t.notMatch(cell(resumed, 15_100), 'stalled', 'bytes again: no longer stalled');
  },
);

t.test(
  'a server without a feed whose poll fails: its ready sessions say it is unreachable, until a poll answers',
  async (t) => {
    const ready = session(['{"status": "ready", "model": "org/model@main"}']);
    const noFeed = reduceServer(createServerState('http://127.0.0.1:8000'), {
      type: 'feed-status',
      at: 0,
      status: { state: 'unsupported', failure: { kind: 'http', status: 404, message: 'no feed' } },
    });
    const cellOf = (actions: ServerAction[]): string => {
      const server = actions.reduce(reduceServer, noFeed);
      const view = toViewModel({
        sessions: [ready],
        ui: createUiState(),
        log: createEventLog(10),
        size: { cols: 120, rows: 40 },
        now: 20_000,
        notice: null,
        defaultServer: 'http://x',
        servers: [server],
      });
      return text(view.cells[0]?.lines ?? []);
    };
    const lostAt = new Date(2026, 0, 1, 12, 1, 3).getTime();
    const failed: ServerAction = {
      type: 'poll-failed',
      at: lostAt,
      failure: { kind: 'network', message: 'cannot reach http://127.0.0.1:8000: ECONNREFUSED' },
    };
    t.match(cellOf([]), '✓ ready', 'ready while polls answer');
    const lost = cellOf([failed, { ...failed, at: lostAt + 3000 }]);
    t.match(lost, '⚠ server unreachable since 12:01:03 · polling', 'since the first failed poll');
    t.notMatch(lost, '✓ ready');
    const ollama: ServerAction = { type: 'polled', at: lostAt - 1000, models: [], kind: 'ollama' };
    t.match(
      cellOf([ollama, failed]),
      '⚠ server unreachable since 12:01:03 · polling /api/ps and /api/tags',
      'the routes its kind is polled on, once the kind is known',
    );
    t.match(
      cellOf([failed, { type: 'polled', at: lostAt + 6000, models: [] }]),
      '✓ ready',
      'a poll that answers clears it',
    );
    const refused: ServerAction = {
      type: 'poll-failed',
      at: lostAt,
      failure: { kind: 'http', status: 401, message: 'HTTP 401' },
    };
    t.match(cellOf([refused]), '✓ ready', 'a 401 comes from a live server: not unreachable');
    const starting: ServerAction = {
      type: 'poll-failed',
      at: lostAt,
      failure: { kind: 'http', status: 503, message: 'HTTP 503' },
    };
    const notServing = cellOf([starting]);
    t.match(notServing, '⚠ server not serving (HTTP 503) since 12:01:03', 'a 503 answers: there, but serving nothing');
    t.notMatch(notServing, 'unreachable', 'never called unreachable: it answered');
  },
);

t.test('the input line and the prompts show the cursor where it is, in sight however long the text', async (t) => {
  const s = session(['{"status": "ready", "model": "org/model@main", "cached": true}']);
  const inputLine = (input: string, cursor: number | undefined, width = 20): Line => {
    const lines = sessionLines(s, {
      width,
      height: 12,
      now: 3,
      focused: true,
      composing: true,
      input,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    return lines.at(-1) ?? [];
  };
  const mid = inputLine('hello world', 4);
  t.equal(text([mid]), '> hello world', 'the cursor on a character adds no cell');
  t.same(
    mid.filter((x) => x.tone === 'selected'),
    [{ text: 'o', tone: 'selected' }],
    'the character under the cursor is shown inverse',
  );
  t.equal(text([inputLine('hello', undefined)]), '> hello█', 'at the end: a block after the text');
  const long = 'the quick brown fox jumps over the lazy dog';
  const atEnd = text([inputLine(long, undefined)]);
  t.equal(atEnd, `> …${long.slice(-16)}█`, 'typing at the end: the tail');
  t.equal([...atEnd].length, 20, 'as wide as the cell');
  const atStart = inputLine(long, 0);
  t.equal(text([atStart]), `> ${long.slice(0, 17)}…`, 'at the start: the head, cut with an ellipsis');
  t.same(
    atStart.find((x) => x.tone === 'selected'),
    { text: 't', tone: 'selected' },
  );
  const inside = inputLine(long, 20);
  t.match(text([inside]), /^> ….+…$/, 'inside: cut on both sides');
  t.same(
    inside.find((x) => x.tone === 'selected'),
    { text: long[20], tone: 'selected' },
    'the cursor in sight',
  );

  const status = (prompt: Prompt, cols = 120): Line =>
    toViewModel({
      sessions: [],
      ui: { ...createUiState(), prompt },
      log: createEventLog(10),
      size: { cols, rows: 30 },
      now: 0,
      notice: null,
      defaultServer: 'http://d:1',
    }).status.line;
  const url = status({ kind: 'add-server', text: 'http://a:1', cursor: 7 });
  t.match(text([url]), 'server URL [Enter: http://d:1]: http://a:1  Enter ok', 'a prompt: the text as typed');
  t.same(
    url.find((x) => x.tone === 'selected'),
    { text: 'a', tone: 'selected' },
    'the cursor on the character',
  );
  const key = status({ kind: 'add-key', text: 'sk-secret', cursor: 3, server: 'http://a:1', model: 'o/m' });
  t.notMatch(text([key]), 'secret', 'a key prompt never shows the key');
  t.match(text([key]), 'API key [Enter: no key · - none]: •••••••••  Enter ok', 'one • a character');
  t.same(
    key.find((x) => x.tone === 'selected'),
    { text: '•', tone: 'selected' },
    'with the cursor on one of them',
  );
  const keep = status({ kind: 'edit-key', text: '', keyDefault: 'keep', server: 'http://a:1', model: 'o/m' });
  t.match(text([keep]), ': •••█  Enter ok', 'the kept key as ••• until something is typed');
  const none = status({ kind: 'add-key', text: '-', server: 'http://a:1', model: 'o/m' });
  t.match(text([none]), ': - (no key)█  Enter ok', '- in words');
  const longUrl = `http://${'x'.repeat(200)}.example:8000/v1`;
  const cut = text([status({ kind: 'add-server', text: longUrl }, 80)]);
  t.equal([...cut].length, 80, 'a long prompt text fits the status bar');
  t.match(cut, /…x+\.example:8000\/v1█$/, 'its end in sight, with the cursor, cut at the start');
  const cutKey = text([status({ kind: 'add-key', text: 'k'.repeat(200), server: 'http://a:1', model: 'o/m' }, 80)]);
  t.match(cutKey, /…•+█$/, 'a long key: masked, cut, the cursor in sight');
});

t.test('zoomed, one pane has every row above the status bar', async (t) => {
  const ready = (id: string) => ({
    ...session(['{"status": "ready", "model": "org/model@main", "cached": true}']),
    id,
    tag: id,
  });
  const log = createEventLog(10);
  const base = { log, size: { cols: 80, rows: 24 }, now: 0, notice: null, defaultServer: 'http://x' };
  const sessions = [ready('s1'), ready('s2'), ready('s3')];
  const zoomed = toViewModel({ ...base, sessions, ui: { ...createUiState(), focus: 1, zoom: 'session' } });
  t.same(
    zoomed.cells.map((c) => [c.id, c.rect]),
    [['s2', { left: 0, top: 0, width: 80, height: 23 }]],
    'only the focused session, on the whole screen',
  );
  t.ok(zoomed.cells[0]?.focused, 'and it has the focus');
  t.equal(zoomed.log.rect.height, 0, 'the log gets no rows (the renderer hides it)');
  t.match(text([zoomed.status.line]), '[s2 zoomed · f returns ·]');
  const log80 = toViewModel({ ...base, sessions, ui: { ...createUiState(), logFocused: true, zoom: 'log' } });
  t.same(log80.cells, [], 'a zoomed log hides the sessions');
  t.same(log80.log.rect, { left: 0, top: 0, width: 80, height: 23 });
  const none = toViewModel({ ...base, sessions: [], ui: { ...createUiState(), zoom: 'session' } });
  t.equal(none.cells.length, 1, 'with no session, nothing is zoomed: the empty cell');
  t.ok(none.log.rect.height > 0, 'and the log stays');
});

t.test('the help fits every screen: paged, every key and every word of it on some page, nothing cut', async (t) => {
  const normal = (x: string) => x.replace(/\s+/g, ' ').trim();
  for (const size of [
    { cols: 80, rows: 24 },
    { cols: 60, rows: 16 },
    { cols: 100, rows: 30 },
    { cols: 220, rows: 60 },
  ]) {
    const pages = helpPageCount(size);
    const shown: string[] = [];
    for (let page = 0; page < pages; page++) {
      const view = toViewModel({
        sessions: [],
        ui: { ...createUiState(), help: true, helpPage: page },
        log: createEventLog(10),
        size,
        now: 0,
        notice: null,
        defaultServer: 'http://x',
      });
      const help = view.help;
      if (help === null) throw new Error('no help');
      t.ok(help.rect.height <= size.rows && help.rect.width <= size.cols, `${size.cols}×${size.rows}: on the screen`);
      t.ok(help.lines.length <= help.rect.height - 2, 'every line inside the box');
      t.notOk(
        help.lines.some((l) =>
          l
            .map((x) => x.text)
            .join('')
            .endsWith('…'),
        ),
        `${size.cols}×${size.rows} page ${page + 1}: no line cut`,
      );
      if (pages > 1) t.match(text(help.lines), `page ${page + 1} of ${pages}`);
      shown.push(normal(text(help.lines.slice(1, -2))));
    }
    const all = shown.join(' ');
    for (const [keys, what] of KEY_HELP) t.ok(all.includes(normal(`${keys} ${what}`)), `${keys}: all of it shown`);
    if (size.rows >= 60) t.equal(pages, 1, 'a tall screen has it on one page');
  }
});

t.test('a narrow pane cuts nothing without a mark: errors, hints, gauges, stage times', async (t) => {
  const failed = session([
    '{"status": "loading", "model": "org/model@main", "stage": "processor"}',
    '{"status": "error", "model": "org/model@main", "message": "HTTP 401 from the hub: the token was refused for org/model; check HF_TOKEN and that it may read this repository"}',
  ]);
  const narrow = (s: SessionState, width: number, now = 10_000) =>
    sessionLines(s, { width, height: 30, now, focused: true, composing: false, input: '' }).map((l) =>
      l.map((x) => x.text).join(''),
    );
  for (const width of [24, 30, 40]) {
    const lines = narrow(failed, width);
    t.ok(
      lines.every((l) => [...l].length <= width),
      `${width}: every line fits`,
    );
    const wrapped = wrap(failed.error?.message ?? '', width);
    if (wrapped.length > 3)
      t.match(lines.find((l) => l.endsWith('…')) ?? '', /…$/, `${width}: the cut message is marked`);
    t.notMatch(lines.at(-1), /ready, E$|Enter s$/, `${width}: the input hint is not cut mid-sentence`);
  }
  // A running download in a narrow pane drops whole figures (the ETA, then the speed) before cutting one.
  const running = session([
    '{"status": "loading", "model": "org/model@main", "stage": "processor"}',
    '{"status": "loading", "model": "org/model@main", "stage": "config"}',
    '{"status": "loading", "model": "org/model@main", "stage": "download", "progress": {"current": 0, "total": 10000000}}',
    '{"status": "loading", "model": "org/model@main", "stage": "download", "progress": {"current": 2000000, "total": 10000000}}',
  ]);
  const at = (width: number) => narrow(running, width, 4500).find((l) => l.startsWith('download ')) ?? '';
  t.match(at(60), /· ETA \d/, 'wide: bytes, speed and ETA');
  t.match(at(40), /^download 2\.00 MB \/ 10\.0 MB · [\d.]+ [kM]B\/s$/, 'narrower: the ETA goes, whole');
  t.equal(at(28), 'download 2.00 MB / 10.0 MB', 'narrower still: the speed goes too');
  for (const w of [36, 40, 44, 48]) t.notMatch(at(w), /…/, `${w}: no half figure`);
  // Stage times break between stages, never inside one, and a cut is marked.
  const stages = narrow(running, 24, 4500).filter((l) => /^(processor|config|download) [\d.]+s/.test(l));
  t.same(stages, ['processor 1.0s', 'config 1.0s …'], 'whole items per line; what does not fit is marked');
});

t.test('a small cell gives rows up in order: the state line last, an unfocused empty input line first', async (t) => {
  const failed = session(['{"status": "error", "model": "org/model@main", "message": "Repository not found"}']);
  const lines = (
    s: SessionState,
    height: number,
    extra: { focused?: boolean; composing?: boolean; input?: string } = {},
  ) => {
    let shown = true;
    const out = text(
      sessionLines(s, {
        width: 40,
        height,
        now: 10_000,
        focused: extra.focused ?? false,
        composing: extra.composing ?? false,
        input: extra.input ?? '',
        onStateShown: (v) => (shown = v),
      }),
    );
    return { out, shown };
  };
  t.equal(lines(failed, 1).out, '✗ error · r retries', 'one row: the state');
  t.match(lines(failed, 2).out, /^✗ error · r retries\nRepository not found/, 'two: the error after it');
  t.notMatch(lines(failed, 4).out, /^> /m, 'an unfocused empty input line is the first to go');
  t.match(lines(failed, 4, { focused: true }).out, /> chat opens/, 'a focused one stays');
  const ready = session(['{"status": "ready", "model": "org/model@main", "cached": false}']);
  const typing = lines(ready, 1, { focused: true, composing: true, input: 'hi' });
  t.match(typing.out, /^> hi/, 'typing in one row: the input line');
  t.equal(typing.shown, false, 'and the state goes to the title');
  t.equal(lines(ready, 0).shown, false);
  const view = toViewModel({
    sessions: Array.from({ length: 11 }, (_, i) => ({ ...ready, id: `s${i + 1}`, tag: `s${i + 1}` })),
    ui: createUiState(),
    log: createEventLog(10),
    size: { cols: 80, rows: 24 },
    now: 10_000,
    notice: null,
    defaultServer: 'http://x',
  });
  for (const cell of view.cells) {
    t.ok(
      cell.title.includes('✓ ready') || text(cell.lines).includes('✓ ready'),
      `${cell.id}: its state, in its body or its title`,
    );
  }
});
