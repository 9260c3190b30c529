// The log's debug views on the real dashboard (a headless blessed screen): every stream a session opens goes
// through the wire tap, and the screen shows its timing, its bytes, stalls, lint faults and the inspector.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startDashboard } from '../src/tui/dashboard.js';
import { screenLayout } from '../src/tui/screen-layout.js';
import { demoModelsDir } from './helpers/demo.js';
import { COLS, ROWS, startKillableServer, terminal } from './helpers/dashboard.js';
import { startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { startUpstreamStandin } from './helpers/upstream-standin.js';

const MODEL = 'modeldeck/tiny-chat';
const rect = screenLayout({ cols: COLS, rows: ROWS }).log;

/** The log pane's text: its title line (the border), then its inner lines. */
function logPane(screen: string): { title: string; lines: string[] } {
  const rows = screen.split('\n');
  const inner = rows
    .slice(rect.top + 1, rect.top + rect.height - 1)
    .map((l) => [...l.padEnd(COLS)].slice(1, -1).join('').trimEnd());
  return { title: rows[rect.top] ?? '', lines: inner };
}

t.test('a real load through the tap: the debug view and the wire view', async (t) => {
  const mirror = await startTestMirror(await demoModelsDir(), { throttle: 1_000_000 });
  t.teardown(() => mirror.close());
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: srv.url, model: MODEL }], input, output, cwd: tmpdir() });
  t.teardown(() => dash.shutdown());
  await until('ready', () => dash.sessions()[0]?.phase === 'ready');

  const entries = dash.journalEntries().filter((e) => e.stream === 's1 load');
  t.ok(
    dash.journalEntries().some((e) => e.stream.endsWith(' feed') && e.kind === 'answer'),
    "the server's event feed goes through the tap too",
  );
  t.match(entries[0], { stream: 's1 load', kind: 'connecting', text: `connecting: POST ${srv.url}/load_model` });
  t.match(entries[1], { kind: 'answer', answer: { status: 200, headers: { 'x-accel-buffering': 'no' } } });
  t.ok(
    entries.some((e) => e.kind === 'comment' && e.text === ': keep-alive'),
    'heartbeats are journalled',
  );
  t.same(
    entries.flatMap((e) => e.findings),
    [],
    "the lint finds nothing in modeldeck's stream",
  );

  input.write('lv');
  const debug = await until('the debug view', () => {
    const pane = logPane(dash.screenText());
    return pane.title.includes('debug') && pane.lines.some((l) => l.includes('"ready"')) ? pane : undefined;
  });
  t.match(debug.title, /debug · following · lines \d+–\d+ of \d+/, 'the title says the view and the position');
  input.write('s/HTTP 200\r');
  const answer = await until('the filtered log', () => {
    const pane = logPane(dash.screenText());
    return pane.title.includes('session s1 · text "HTTP 200"') ? pane : undefined;
  });
  t.match(answer.lines[0], /^\d\d:\d\d:\d\d\.\d{3} s1 +load +— +HTTP 200 OK text\/event-stream/, 'the answer');
  t.match(answer.title, /lines 1–1 of 1/, 'only the lines whose visible text matches');
  input.write('s/\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\r');
  await until('the filter cleared', () => !logPane(dash.screenText()).title.includes('text "'));
  t.ok(
    debug.lines.some((l) => / s1 +load +\+\d+(ms|\.\d\ds) +\{"status": "ready"/.test(l)),
    'a frame with its gap',
  );

  input.write('v');
  const wire = await until('the wire view', () => {
    const pane = logPane(dash.screenText());
    return pane.title.includes('wire') ? pane : undefined;
  });
  t.ok(
    wire.lines.some((l) => l.includes('data: {') && l.endsWith('}\\n')),
    'the data line with its LF visible',
  );
  t.ok(
    wire.lines.some((l) => /\+\d+ms +\\n$/.test(l) || /— +\\n$/.test(l) || / \\n$/.test(l)),
    'the blank line',
  );
});

t.test(
  'a broken upstream: stall marks, the fault count, next fault, the inspector, and w saves what is shown',
  async (t) => {
    const upstream = await startUpstreamStandin({
      models: [MODEL],
      frameMs: 20,
      quietMs: 700,
      breaks: 'progress-backwards',
    });
    t.teardown(() => upstream.close());
    const cwd = await mkdtemp(join(tmpdir(), 'modeldeck-wire-log-'));
    t.teardown(() => rm(cwd, { recursive: true, force: true }));
    const { input, output } = terminal();
    const dash = startDashboard({
      sessions: [{ server: upstream.url, model: MODEL }],
      input,
      output,
      cwd,
      stallMs: 500,
    });
    t.teardown(() => dash.shutdown());
    await until('ready', () => dash.sessions()[0]?.phase === 'ready');
    await until('the session shows its fault count', () =>
      dash.screenText().includes('s1 modeldeck/tiny-chat · 1 lint fault'),
    );

    input.write('lv');
    const pane = await until('the stall mark', () => {
      const p = logPane(dash.screenText());
      return p.lines.some((l) => l.startsWith('── stall: ')) ? p : undefined;
    });
    const stall = pane.lines.findIndex((l) => l.startsWith('── stall: '));
    t.match(pane.lines[stall], /^── stall: 0\.\d s without a frame on s1 load ──$/);
    t.match(
      pane.lines[stall + 1],
      /^\d\d:\d\d:\d\d\.\d{3} s1 +load +\+\d+ms · \{"status": "loading", .*"stage": "download"/,
      'marked just before the frame that ended the silence',
    );
    t.ok(
      pane.lines.some((l) => / ! \{"status": "loading", .*"stage": "weights"/.test(l)),
      'the faulty frame is marked !',
    );

    input.write('n');
    input.write('\r');
    const inspector = await until('the inspector', () => {
      const p = logPane(dash.screenText());
      return p.lines.some((l) => l === 'Lint') ? p : undefined;
    });
    t.ok(
      inspector.lines.includes('  fault progress-backwards: weights: current went from 136 back to 100'),
      'its finding',
    );
    t.ok(
      inspector.lines.some((l) => /^Wire \(\d+ bytes\)$/.test(l)),
      'the raw bytes',
    );
    t.ok(
      inspector.lines.some((l) => l.startsWith('  since the previous frame of this stream: +')),
      'its timing',
    );
    t.ok(inspector.lines.includes('HTTP answer'), 'and the HTTP answer');
    t.ok(inspector.lines.includes('  200 OK'));
    t.match(inspector.title, /PAUSED.*Esc closes/);
    input.write('\x1b[6~');
    const scrolled = await until('the inspector scrolled', () => {
      const p = logPane(dash.screenText());
      return p.lines.includes('    "status": "loading",') ? p : undefined;
    });
    t.ok(scrolled.lines.includes('Payload'), 'PgDn scrolls to the payload, as pretty JSON');

    input.write('\x1b');
    await until('the inspector closed', () => !logPane(dash.screenText()).lines.includes('Lint'));
    const shown = logPane(dash.screenText()).lines.filter((l) => l !== '');
    input.write('w');
    await until('the save prompt', () => dash.ui().prompt?.kind === 'save');
    input.write('\r');
    const file = await until('the saved file', async () =>
      (await readdir(cwd)).find((f) => /^modeldeck-events-\d{8}-\d{6}\.txt$/.test(f)),
    );
    const saved = (await readFile(join(cwd, file), 'utf8')).split('\n').slice(0, -1);
    t.same(saved, shown, 'w saved exactly the lines the pane shows');
  },
);
