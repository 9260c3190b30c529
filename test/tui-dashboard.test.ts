// The dashboard on a headless terminal (a blessed screen on PassThrough streams), against real modeldeck servers on
// port 0 and the demo mirror. Assertions read the screen's text, as a person would.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import { startDashboard, type Dashboard } from '../src/tui/dashboard.js';
import { runDashboardCommand } from '../src/cli/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, COLS, ROWS, startKillableServer, terminal } from './helpers/dashboard.js';
import { screenLayout } from '../src/tui/screen-layout.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';

const models = await demoModelsDir();
// ~1 MB at 250 kB/s: a few seconds of download, enough to watch the gauge move.
const THROTTLE = 250_000;
const mirror = await startTestMirror(models, { throttle: THROTTLE });
t.teardown(() => mirror.close());

/** For a test that needs its sessions ready, not watched while loading: downloads at full speed until it ends. */
function unthrottled(t: Test): void {
  mirror.setThrottle(0);
  t.teardown(() => mirror.setThrottle(THROTTLE));
}

/** A modeldeck server loading from the throttled demo mirror. */
const server = (options: { apiKey?: string; port?: number; cacheDir?: string } = {}) =>
  startKillableServer(mirror.url, options);

function percentOf(text: string, gauge: 'download' | 'weights'): number | undefined {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.trimStart().startsWith(`${gauge} `));
  const bar = at === -1 ? undefined : lines[at + 1];
  const m = bar === undefined ? null : /\]\s+(\d+)%/.exec(bar);
  return m ? Number(m[1]) : undefined;
}

t.test('a session loads with moving gauges, logs raw frames, and streams a chat reply', async (t) => {
  const srv = await server();
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  // A short reply, so that all of it fits the chat pane and can be read there.
  const dash = startDashboard({
    sessions: [{ server: srv.url, model: MODEL }],
    input,
    output,
    cwd: tmpdir(),
    maxTokens: 16,
  });
  t.teardown(() => dash.shutdown());

  // Percentages in the order the screen showed them. The tiny model's weights are 3 items, coalesced by the server,
  // so their movement is proven on recorded frames (test/tui-view-model.test.ts); here both must never go backwards.
  const downloadSeen: number[] = [];
  const weightsSeen: number[] = [];
  const note = (seen: number[], p: number | undefined): void => {
    if (p !== undefined && seen.at(-1) !== p) seen.push(p);
  };
  await until('state ready', () => {
    const text = cellText(dash, 0, 1);
    note(downloadSeen, percentOf(text, 'download'));
    note(weightsSeen, percentOf(text, 'weights'));
    return text.includes('✓ ready') ? text : undefined;
  });
  t.match(cellText(dash, 0, 1), /✓ ready in [\d.]+s · [\d.]+ [kM]B at [\d.]+ [kM]B\/s/, 'one summary line once ready');
  t.notMatch(cellText(dash, 0, 1), /weights \d/, 'the gauges gave their rows to the chat');
  // Zoomed (f), a finished load shows its detail: where the gauges ended.
  input.write('f');
  const cell = await until('the zoomed session', () => {
    const text = dash.screenText();
    // The whole screen is the session's box: its inside is every line less the border column.
    return text.includes('zoomed · f returns')
      ? text
          .split('\n')
          .map((line) => [...line].slice(1).join(''))
          .join('\n')
      : undefined;
  });
  note(downloadSeen, percentOf(cell, 'download'));
  note(weightsSeen, percentOf(cell, 'weights'));
  t.ok(
    downloadSeen.some((p) => p > 0 && p < 100),
    `the download gauge was seen part-way: ${downloadSeen}`,
  );
  for (const [gauge, seen] of [
    ['download', downloadSeen],
    ['weights', weightsSeen],
  ] as const) {
    t.ok(
      seen.every((p, i) => i === 0 || p > (seen[i - 1] ?? 0)),
      `the ${gauge} gauge never went backwards: ${seen}`,
    );
    t.equal(seen.at(-1), 100, `the ${gauge} gauge ended full`);
  }
  t.equal(percentOf(cell, 'download'), 100, 'the download gauge completes');
  t.equal(percentOf(cell, 'weights'), 100, 'the weights gauge completes');
  t.match(cell, /download .*\/ [\d.]+ [kM]B/, 'bytes done / total shown');
  t.match(cell, /weights \d+ \/ \d+ items/, 'weights shown with their unit');
  t.match(cell, /processor [\d.]+s · config [\d.]+s · download [\d.]+s · weights [\d.]+s/, 'time per stage', {
    stages: dash.sessions()[0]?.stages,
    log: dash.logEntries().slice(0, 3),
  });
  t.match(cell, srv.url, 'the server URL');
  t.match(dash.screenText(), `s1 ${MODEL}`, 'the session title names the model');
  input.write('f');
  await until('the grid again', () => !dash.screenText().includes('zoomed'));

  t.match(
    dash.screenText(),
    /s1 +data:[ ⇄] \{"status": "ready", "model": "modeldeck\/tiny-chat@main", "cached": false/,
    'the raw ready frame is in the log pane',
  );
  t.ok(
    dash.logEntries().some((e) => e.kind === 'data' && e.raw.includes('"stage": "download"')),
    'download frames logged',
  );
  // The first frame has scrolled out of the pane by now: filter the log to find it, as a person would.
  input.write('l\x06processor\r');
  await until('the filtered log', () => dash.ui().log.filterText === 'processor' && !dash.ui().prompt);
  t.match(
    dash.screenText(),
    /s1 +data:[ ⇄] \{"status": "loading", "model": "modeldeck\/tiny-chat@main", "stage": "processor"\}/,
    'the raw processor frame, found with the text filter',
  );
  t.match(dash.screenText(), 'text "processor"', 'the pane says it is filtered');
  input.write('\x06\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\r\x1b');
  await until(
    'the filter cleared, focus back on the session',
    () => dash.ui().log.filterText === '' && !dash.ui().logFocused,
  );

  // Type a message and send it: keys go through the terminal's input stream, like a person's (i starts typing).
  input.write('\rhello there');
  await until('the input line', () => cellText(dash, 0, 1).includes('> hello there'));
  input.write('\r');
  const replied = await until('a finished reply', () => {
    const s = dash.sessions()[0];
    const last = s?.transcript.at(-1);
    return s && !s.chatBusy && last?.role === 'assistant' && last.content.length > 0 ? last.content : undefined;
  });
  const after = cellText(dash, 0, 1);
  t.match(after, 'you: hello there', 'the message is in the transcript');
  // The role chunk and the finish chunk carry no text: count only chunks whose delta has some.
  const pieces = dash
    .logEntries()
    .filter((e) => e.session === 's1' && e.kind === 'data' && e.raw.includes('"chat.completion.chunk"'))
    .map(
      (e) => (JSON.parse(e.raw) as { choices: { delta?: { content?: string | null } }[] }).choices[0]?.delta?.content,
    )
    .filter((c): c is string => typeof c === 'string' && c !== '');
  t.ok(pieces.length >= 1, `the reply's text arrived in streamed chunks (${pieces.length})`);
  const streamed = pieces.join('');
  t.equal(replied, streamed, 'the transcript holds exactly the text of those chunks');
  // On screen the reply is wrapped to the pane (a line break for a space, or inside a long word): compare without
  // whitespace, within the chat part of s1's cell.
  const squash = (text: string): string => text.replace(/\s+/g, '');
  const chatPane = after.slice(after.indexOf('─ chat'));
  t.ok(after.includes('─ chat'), 'the chat pane is shown');
  t.ok(
    squash(chatPane).includes(squash(`model: ${streamed}`)),
    'the whole streamed reply is on screen in the chat pane',
    {
      streamed,
      chatPane,
    },
  );
  t.ok(
    dash.logEntries().some((e) => e.raw === '[DONE]'),
    'the [DONE] frame is logged',
  );

  // Still typing after a send; Esc leaves the input line, then Q opens the quit dialog on Cancel, saying what would
  // be lost; a letter keeps the dashboard; ← to Quit, then Enter, quits.
  input.write('\x1b');
  input.write('Q');
  const asked = await until('the quit dialog', () => {
    const text = dash.screenText().replace(/[│\s]+/g, ' ');
    return text.includes('Quit modeldeck?') ? text : undefined;
  });
  t.match(asked, 'Quitting drops 1 transcript', 'says what would be lost');
  t.match(asked, /\[ Save log & quit \] +\[ Quit \] +▶ Cancel ◀/, 'its buttons, on Cancel');
  input.write('y');
  await until('the dialog closed by a letter', () => (dash.ui().prompt === null ? true : undefined));
  t.notOk(dash.sessions().length === 0, 'y keeps everything');
  input.write('Q');
  await until('the quit dialog again', () => (dash.ui().prompt?.kind === 'quit' ? true : undefined));
  input.write('\x1b[D');
  await until('Quit chosen', () => (dash.ui().prompt?.choice === 1 ? true : undefined));
  input.write('\r');
  await dash.closed;
  t.pass('Q, ←, Enter quits');
});

t.test("a session's dtype reaches the server: one the repository lacks is an error naming what it has", async (t) => {
  unthrottled(t);
  const srv = await server();
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: srv.url, model: MODEL, dtype: ['q4'] }], input, output });
  t.teardown(() => dash.shutdown());
  const refused = await until('the q4 session refused', () => {
    const text = cellText(dash, 0, 1).replace(/\s+/g, ' ');
    return text.includes('✗ error') ? text : undefined;
  });
  t.match(refused, /q4/, 'the dtype asked for');
  t.match(refused, /fp32/, 'and the variant the repository has');
  // Added once that load has ended: while one dtype of a model loads, another is refused (409, DTYPE_CONFLICT).
  dash.addSession({ server: srv.url, model: MODEL, dtype: ['q4', 'fp32'] });
  await until('the session that falls back to fp32 ready', () => cellText(dash, 1, 2).includes('✓ ready'));
});

t.test('a bad API key gives a readable 401 in that session only; keys reach the focused session', async (t) => {
  unthrottled(t);
  const srv = await server({ apiKey: 'right-key-123' });
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [
      { server: srv.url, model: MODEL, apiKey: 'right-key-123' },
      { server: `${srv.url}/v1`, model: MODEL, apiKey: 'wrong-key-456' },
    ],
    input,
    output,
  });
  t.teardown(() => dash.shutdown());

  // The words, not the bare digits: the cell shows the server's URL, and an ephemeral port may hold "401".
  const bad = await until('the 401 in the second session', () => {
    const text = cellText(dash, 1, 2).replace(/\s+/g, ' ');
    return text.includes('HTTP 401') ? text : undefined;
  });
  t.match(bad, '✗ error', 'the second session is in error');
  t.match(bad, 'the API key is not valid for this server', "the server's message, readable");
  t.match(bad, '--api-key', 'and what to do');
  await until('the first session ready', () => cellText(dash, 0, 2).includes('✓ ready'));
  t.notMatch(cellText(dash, 0, 2).replace(/\s+/g, ' '), 'HTTP 401', 'the first session is not affected');
  t.equal(dash.sessions()[0]?.phase, 'ready');
  t.equal(dash.sessions()[1]?.phase, 'error');

  // Tab to the second session and type: the text shows there, not in the first.
  input.write('\t');
  input.write('\rabc');
  await until('input in the second cell', () => cellText(dash, 1, 2).includes('> abc'));
  t.notMatch(cellText(dash, 0, 2), 'abc', 'the first cell did not get the keys');
  t.same(dash.ui().inputs, { s2: 'abc' });
  // Back to the first (Esc stops typing, Shift-Tab goes back) and chat there.
  input.write('\x1b');
  input.write('\x1b[Z');
  await until('focus on s1', () => dash.ui().focus === 0 && !dash.ui().composing);
  input.write('\rhi\r');
  await until('a reply in s1', () =>
    dash.sessions()[0]?.transcript.some((e) => e.role === 'assistant' && !e.streaming),
  );
  t.same(dash.sessions()[1]?.transcript, [], 'the second session has no transcript');
  t.match(cellText(dash, 0, 2), 'you: hi');

  const screen = dash.screenText();
  const logged = JSON.stringify(dash.logEntries());
  for (const key of ['right-key-123', 'wrong-key-456']) {
    t.notMatch(screen, key, `${key} is not on screen`);
    t.notMatch(logged, key, `${key} is not in the event log`);
  }
  t.ok(
    dash.logEntries().some((e) => e.session === 's2' && e.kind === 'other' && e.raw.includes('HTTP 401')),
    'the 401 answer is in the log, tagged with its session',
  );
});

t.test('a server killed mid-load: the session shows the error, reconnects, and loads on the new server', async (t) => {
  mirror.setThrottle(60_000);
  t.teardown(() => mirror.setThrottle(THROTTLE));
  const first = await server();
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [{ server: first.url, model: MODEL }],
    input,
    output,
    backoff: { initialMs: 300, maxMs: 1200 },
  });
  t.teardown(() => dash.shutdown());

  await until('the download running', () => dash.sessions()[0]?.stage === 'download');
  await first.kill();
  const lost = await until('the session reconnecting', () => {
    const text = cellText(dash, 0, 1);
    return text.includes('reconnecting') ? text : undefined;
  });
  t.match(
    lost.replace(/\s+/g, ' '),
    /connection lost mid-load|stream ended before ready|cannot reach/,
    'says what happened',
  );
  await until('a refused reconnection attempt', () => (dash.sessions()[0]?.attempt ?? 0) >= 3);
  t.match(cellText(dash, 0, 1).replace(/\s+/g, ' '), /cannot reach .*ECONNREFUSED/, 'a refused connection is named');

  mirror.setThrottle(0);
  const second = await server({ port: first.port, cacheDir: first.cacheDir });
  t.teardown(() => second.close());
  await until('ready on the new server', () => cellText(dash, 0, 1).includes('✓ ready'));
  t.ok((dash.sessions()[0]?.attempt ?? 0) >= 3, 'after several attempts');
  t.equal(dash.sessions()[0]?.error, null, 'the error is cleared');
});

t.test('w in the log saves what it shows as JSON Lines, one line per entry, with no API key in the file', async (t) => {
  unthrottled(t);
  const RIGHT = 'sk-right-key-5150';
  const ECHOED = 'sk-echoed-key-7272';
  const srv = await server({ apiKey: RIGHT });
  t.teardown(() => srv.close());
  // A server that echoes the Authorization header in its 401 body (some proxies do): the key reaches a frame, so the
  // file is really put to the test.
  const echo = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `rejected credentials: ${req.headers.authorization ?? 'none'}` } }));
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => echo.close(() => resolve())));
  const echoAddress = echo.address();
  const echoUrl = `http://127.0.0.1:${typeof echoAddress === 'object' && echoAddress ? echoAddress.port : 0}`;
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-tui-save-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [
      { server: srv.url, model: MODEL, apiKey: RIGHT },
      { server: echoUrl, model: MODEL, apiKey: ECHOED },
    ],
    input,
    output,
    cwd: dir,
  });
  t.teardown(() => dash.shutdown());
  // Once s1 is ready and s2 has its 401 (no retry), both streams are closed and the log holds still.
  await until('s1 ready', () => dash.sessions()[0]?.phase === 'ready');
  await until('s2 refused', () => dash.sessions()[1]?.phase === 'error');
  t.ok(
    dash.logEntries().some((e) => e.session === 's2' && e.raw.includes('rejected credentials: Bearer [redacted]')),
    'the echoed key reached the log, redacted',
  );

  const toLines = (entries: ReturnType<Dashboard['logEntries']>) =>
    entries.map((e) => ({ time: new Date(e.time).toISOString(), session: e.session, kind: e.kind, raw: e.raw }));
  const readJsonl = async (path: string) => {
    const text = await readFile(path, 'utf8');
    t.ok(text.endsWith('\n'), 'every line ends in LF');
    t.notMatch(text, RIGHT, 'the key of s1 is not in the file');
    t.notMatch(text, ECHOED, 'the key of s2 is not in the file');
    const all = text
      .slice(0, -1)
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; session: string });
    // Frames as before; beside them, for replay, each session's opening and every update its client reported.
    const FIELDS: Record<string, string[]> = {
      open: ['time', 'session', 'kind', 'server', 'model'],
      update: ['time', 'session', 'kind', 'update'],
      wire: ['time', 'session', 'kind', 'record'],
      server: ['time', 'session', 'kind', 'root', 'action'],
    };
    for (const line of all)
      t.same(Object.keys(line), FIELDS[line.kind] ?? ['time', 'session', 'kind', 'raw'], 'fields in order');
    const times = all.map((line) => Date.parse((line as unknown as { time: string }).time));
    t.same(
      times,
      [...times].sort((a, b) => a - b),
      'in time order',
    );
    const lines = all.filter((line) => FIELDS[line.kind] === undefined);
    const opened = all.filter((line) => line.kind === 'open').map((line) => line.session);
    return { text, lines, opened };
  };
  /** Focuses the log (if needed), presses Ctrl-S, replaces the offered name with `path`, and waits for the notice. */
  const save = async (path: string, expect: RegExp): Promise<string> => {
    if (!dash.ui().logFocused) input.write('l');
    input.write('\x13');
    const offered = await until('the save prompt', () =>
      dash.ui().prompt?.kind === 'save' ? dash.ui().prompt?.text : undefined,
    );
    input.write(`${'\x7f'.repeat([...offered].length)}${path}\r`);
    return until(`the notice for ${path}`, () => {
      const status = dash.screenText().split('\n')[ROWS - 1] ?? '';
      return dash.ui().prompt === null && expect.test(status) ? status : undefined;
    });
  };

  // Everything, unfiltered: every entry, including those scrolled out of the pane.
  const all = join(dir, 'all.jsonl');
  const shownAll = dash.logEntries();
  const notice = await save(all, /saved \d+ log lines/);
  t.match(notice, `saved ${shownAll.length} log lines to ${all}`, 'the notice says how many and where');
  const everything = await readJsonl(all);
  t.same(everything.lines, toLines(shownAll), 'one line per entry, {time, session, kind, raw}, oldest first');
  t.ok(everything.lines.length > 5, 'the load and the 401 are there');
  t.same(everything.opened, ['s1', 's2'], 'both sessions are opened in the file');
  t.match(everything.text, 'Bearer [redacted]', 'the echoed key, redacted');

  // A .txt name in the frames view: exactly the lines the pane shows, not the history behind them.
  const shownTxt = join(dir, 'shown.txt');
  const paneRows = (): string[] => {
    const rect = screenLayout({ cols: COLS, rows: ROWS }).log;
    return dash
      .screenText()
      .split('\n')
      .slice(rect.top + 1, rect.top + rect.height - 1)
      .map((line) =>
        [...line.padEnd(COLS)]
          .slice(rect.left + 1, rect.left + rect.width - 1)
          .join('')
          .trimEnd(),
      )
      .filter((line) => line !== '');
  };
  const shownRows = paneRows();
  await save(shownTxt, /saved \d+ log lines/);
  const txt = await readFile(shownTxt, 'utf8');
  t.same(
    txt
      .slice(0, -1)
      .split('\n')
      .map((l) => l.trimEnd()),
    shownRows,
    'the .txt file holds exactly the rows of the log pane',
  );
  t.ok(shownRows.length <= screenLayout({ cols: COLS, rows: ROWS }).log.height - 2, 'no more than the pane holds');
  t.notMatch(txt, RIGHT, 'no key in the .txt file');

  // Filtered to s2 (s picks s1, then s2): only what the pane shows.
  input.write('ss');
  await until('the s2 filter', () => dash.ui().log.filterSession === 's2');
  const onlyS2 = join(dir, 's2.jsonl');
  await save(onlyS2, /saved \d+ log lines/);
  const s2 = await readJsonl(onlyS2);
  t.same(s2.lines, toLines(dash.logEntries().filter((e) => e.session === 's2')), 'only the entries the filter shows');
  t.ok(s2.lines.length >= 1);
  t.same(s2.opened, ['s2'], 'only s2 is opened in the file');

  // A file that exists is never overwritten.
  const again = await save(onlyS2, /not saved/);
  t.match(again, 'exists', 'says why');
  t.equal(await readFile(onlyS2, 'utf8'), s2.text, 'the file is unchanged');

  // The offered name, in the working directory given to the dashboard.
  input.write('\x13');
  await until('the save prompt', () => dash.ui().prompt?.kind === 'save');
  input.write('\r');
  await until('the default file', () => dash.ui().prompt === null && dash.screenText().includes('saved '));
  const named = (await readdir(dir)).filter((f) => /^modeldeck-events-\d{8}-\d{6}\.jsonl$/.test(f));
  t.equal(named.length, 1, `saved under the offered name in cwd: ${named}`);
  t.same((await readJsonl(join(dir, named[0] ?? ''))).lines, s2.lines, 'with the same filter');
  t.notMatch(dash.screenText(), RIGHT, 'the key of s1 is not on screen');
  // The server echoed s2's key in its 401: the failure shown in s2's cell has it redacted, as the log has.
  t.notMatch(dash.screenText(), ECHOED, 'the echoed key of s2 is not on screen');
  t.match(dash.screenText(), /\[redacted\]/, 'the echo is shown redacted');
});

t.test('the dashboard command refuses to start without a terminal', async (t) => {
  const out = new PassThrough();
  const err = new PassThrough();
  let text = '';
  err.on('data', (c: Buffer) => (text += c.toString()));
  const code = await runDashboardCommand(['--server', 'http://127.0.0.1:9', '--model', MODEL], {
    output: out,
    stderr: err,
  });
  t.equal(code, 1);
  t.match(text, 'needs a terminal');
  t.match(text, 'modeldeck load');
});
