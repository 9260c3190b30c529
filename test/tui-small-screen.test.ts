// Room where it is needed, on the real dashboard at 80×24 (headless screen): a finished load collapses to one summary
// line, so a streamed reply is visible; f zooms the session (its load detail back) and returns; the transcript scrolls
// back and PgUp stops at its oldest line.
import t from 'tap';
import { startDashboard, type Dashboard } from '../src/tui/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { startKillableServer, terminal } from './helpers/dashboard.js';
import { gridLayout, screenLayout } from '../src/tui/screen-layout.js';
import { startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { closedPort } from './helpers/closed-port.js';

const MODEL = 'modeldeck/tiny-chat';

/** The newest `↓ N newer` mark's N on screen, or 0 when the transcript follows. */
const newer = (dash: Dashboard): number => Number(/↓ (\d+) newer · PgDn/.exec(dash.screenText())?.[1] ?? 0);

t.test('at 80×24 a reply is visible, a session zooms and returns, the transcript scrolls back', async (t) => {
  const mirror = await startTestMirror(await demoModelsDir([MODEL]));
  t.teardown(() => mirror.close());
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal({ cols: 80, rows: 24 });
  const dash = startDashboard({
    sessions: [
      { server: srv.url, model: MODEL },
      { server: srv.url, model: MODEL },
    ],
    input,
    output,
    maxTokens: 8,
  });
  t.teardown(() => dash.shutdown());
  const ready = await until(
    'both ready',
    () => {
      const text = dash.screenText();
      return (text.match(/✓ ready in /g) ?? []).length === 2 ? text : undefined;
    },
    60_000,
  );
  // A rate only over a window of 100 ms or more: a loopback download may take less, and then shows none.
  t.match(ready, /✓ ready in [\d.]+s · [\d.]+ [kM]B( at [\d.]+ [kM]B\/s)?|✓ ready in [\d.]+s · files already on disk/);
  t.notMatch(ready, /weights \d+ \/ \d+ items/, 'a finished load gives its gauge rows to the chat');

  input.write('\rhello\r');
  const reply = await until('the reply ends', () => {
    const last = dash.sessions()[0]?.transcript.at(-1);
    return last?.role === 'assistant' && !last.streaming && last.content !== '' ? last : undefined;
  });
  const shown = await until('the reply on screen', () => {
    const text = dash.screenText();
    return text.includes('you: hello') && text.includes(`model: ${reply.content.trim().slice(0, 20)}`)
      ? text
      : undefined;
  });
  t.match(shown, /ttft /, 'with its figures');

  // f zooms the focused session: the other session and the log give way, and the load's detail is back.
  input.write('\x1b');
  await until('typing left', () => !dash.screenText().includes('typing: Enter sends'));
  input.write('f');
  const zoomed = await until('zoomed', () => {
    const text = dash.screenText();
    return text.includes('zoomed · f returns') ? text : undefined;
  });
  t.match(zoomed, 's1 modeldeck/tiny-chat');
  t.notMatch(zoomed, 's2 modeldeck/tiny-chat', 'the other session is not shown');
  t.notMatch(zoomed, / events · /, 'nor the log');
  t.match(zoomed, /weights \d+ \/ \d+ items/, 'the load’s detail is back');
  t.match(zoomed, 'you: hello', 'with the transcript');
  input.write('f');
  const back = await until('back to the grid', () => {
    const text = dash.screenText();
    return text.includes('s2 modeldeck/tiny-chat') && text.includes(' events · ') ? text : undefined;
  });
  t.notMatch(back, 'zoomed', 'the status bar no longer says zoomed');

  // A message longer than the cell's transcript rows, so there is something to scroll back to.
  const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
  input.write(`\r${long}\r`);
  await until('the long message answered', () => {
    const list = dash.sessions()[0]?.transcript ?? [];
    return list.length === 4 && list.at(-1)?.streaming === false ? list : undefined;
  });
  await until('the end of the reply on screen', () => dash.screenText().includes('ttft ') && newer(dash) === 0);
  t.notMatch(dash.screenText(), /you: word0 /, 'the start of the long message is scrolled out of sight');
  const PGUP = '\x1b[5~';
  const PGDN = '\x1b[6~';
  for (let i = 0; i < 12; i++) input.write(PGUP);
  const top = await until('scrolled to the top', () => {
    const text = dash.screenText();
    return text.includes('you: hello') && newer(dash) > 0 ? text : undefined;
  });
  t.match(top, /↓ \d+ newer · PgDn/, 'scrolled back, the cell says how many newer lines are below');
  const atTop = newer(dash);
  input.write(PGDN);
  await until('one PgDn moves at once', () => newer(dash) < atTop);
  t.equal(newer(dash), Math.max(0, atTop - 5), 'by one page: PgUp had stopped at the oldest line');
  for (let i = 0; i < 12; i++) input.write(PGDN);
  await until('following again', () => newer(dash) === 0 && dash.screenText().includes('ttft '));
  t.pass('PgDn returns to the newest');
});

/** The text of cell `index` of `count` on an 80×24 screen, its border (and title) included. */
function smallCell(dash: Dashboard, index: number, count: number): string {
  const rect = gridLayout(count, screenLayout({ cols: 80, rows: 24 }).sessions)[index];
  if (!rect) throw new Error(`no cell ${index}`);
  return dash
    .screenText()
    .split('\n')
    .slice(rect.top, rect.top + rect.height)
    .map((line) => [...line.padEnd(80)].slice(rect.left, rect.left + rect.width).join(''))
    .join('\n');
}

t.test('at 80×24 with three sessions a reply and all its figures are in sight', async (t) => {
  const mirror = await startTestMirror(await demoModelsDir([MODEL]));
  t.teardown(() => mirror.close());
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal({ cols: 80, rows: 24 });
  const session = { server: srv.url, model: MODEL };
  // A short reply (6 tokens: at most three lines of a 38-column pane), as the "a reply and its figures".
  const dash = startDashboard({ sessions: [session, session, session], input, output, maxTokens: 6 });
  t.teardown(() => dash.shutdown());
  await until('all ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'));
  input.write('\rhello\r');
  const reply = await until('the reply ends', () => {
    const last = dash.sessions()[0]?.transcript.at(-1);
    return last?.role === 'assistant' && !last.streaming && last.content !== '' ? last : undefined;
  });
  const words = reply.content.trim().split(/\s+/)[0] ?? '';
  const cell = await until('the reply and its figures on screen', () => {
    const text = smallCell(dash, 0, 3);
    return text.includes(`model: ${words}`) && /ttft /.test(text) ? text : undefined;
  });
  t.comment(cell);
  t.pass('the reply from its start, with its figures');
  t.match(cell, /✓ ready/, 'the state line');
  const figures = cell
    .split('\n')
    .filter((line) => /ttft|tok\/s| out/.test(line))
    .join(' ');
  t.match(figures, /ttft \d+ms/, 'the time to first token');
  t.match(figures, /\d+ out/, 'and the last figure: none is cut');
  t.notMatch(figures, '…', 'nothing cut with an ellipsis');
});

t.test('at 80×24 with eleven sessions every pane keeps its state; Ctrl-G jumps to session 11', async (t) => {
  const mirror = await startTestMirror(await demoModelsDir([MODEL]));
  t.teardown(() => mirror.close());
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal({ cols: 80, rows: 24 });
  const sessions = Array.from({ length: 11 }, () => ({ server: srv.url, model: MODEL }));
  const dash = startDashboard({ sessions, input, output });
  t.teardown(() => dash.shutdown());
  await until('all ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'));
  const cells = await until('eleven ready panes', () => {
    const all = Array.from({ length: 11 }, (_, i) => smallCell(dash, i, 11));
    return all.every((c) => c.includes('✓ ready')) ? all : undefined;
  });
  t.equal(cells.length, 11, 'every pane says ✓ ready (in its body, or in its title when it has no row for it)');
  input.write('\x07');
  await until('the jump prompt', () => dash.ui().prompt?.kind === 'jump');
  t.match(dash.screenText(), 'jump to session (number, tag or model)');
  input.write('11\r');
  await until('session 11 focused', () => dash.ui().focus === 10 && dash.ui().prompt === null);
  t.match(dash.screenText().split('\n')[23] ?? '', /^\[s11\]/, 'the status bar names it');
  input.write('\x0799\r');
  await until('the refusal', () => dash.ui().prompt?.error !== undefined);
  t.match(dash.screenText().split('\n')[23] ?? '', /: 99█? +not one of 1–11, a tag or a model/);
});

t.test(
  'a hundred sessions on 200×60: what is typed into a cell with no row for it shows in the status bar',
  async (t) => {
    const port = await closedPort();
    const { input, output } = terminal({ cols: 200, rows: 60 });
    const sessions = Array.from({ length: 100 }, (_, i) => ({
      server: `http://127.0.0.1:${port}`,
      model: `org/m${i}`,
    }));
    const dash = startDashboard({ sessions, input, output });
    t.teardown(() => dash.shutdown());
    const status = (): string => dash.screenText().split('\n').at(-1) ?? '';
    dash.press({ name: 'enter', ch: '\r', ctrl: false, shift: false, meta: false });
    for (const ch of 'hello') dash.press({ name: ch, ch, ctrl: false, shift: false, meta: false });
    t.match(status(), /^\[s1\] > hello█ +typing: Enter sends/, 'the focused session and what is typed, then the keys');
    t.notMatch(dash.screenText().split('\n').slice(0, -1).join('\n'), /hello/, 'the cell itself has no row for it');
    dash.press({ name: 'escape', ch: '\x1b', ctrl: false, shift: false, meta: false });
    t.match(status(), /^\[s1\] commands:/, 'not typing: the status bar as before');

    // A cell with a row for the input shows it there, and the status bar stays as it was.
    const few = terminal({ cols: 200, rows: 60 });
    const two = startDashboard({ sessions: sessions.slice(0, 2), input: few.input, output: few.output });
    t.teardown(() => two.shutdown());
    two.press({ name: 'enter', ch: '\r', ctrl: false, shift: false, meta: false });
    for (const ch of 'hello') two.press({ name: ch, ch, ctrl: false, shift: false, meta: false });
    const screen = two.screenText().split('\n');
    t.match(screen.at(-1) ?? '', /^\[s1\] typing: Enter sends/);
    t.ok(
      screen.slice(0, -1).some((row) => row.includes('> hello')),
      'the input line is in the cell',
    );
  },
);
