// Driving the fleet from the server view, on the real dashboard (a headless terminal) against a real modeldeck server
// loading real demo models: the cursor walks every model, other clients' included; U unloads another client's model
// only through its dialog's Unload button, L loads one, Enter opens a session on a row, / filters the rows, a
// read-only dashboard refuses every action, and a paragraph of English typed into the view changes nothing.
import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { subscribeLoad } from '../src/client/load-subscription.js';
import { startDashboard, type Dashboard } from '../src/tui/dashboard.js';
import { terminal } from './helpers/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { repoPath } from './helpers/repo.js';
import { startTestMirror } from './helpers/stack.js';
import { flat, listed, loggedServer, other, rowLine, selectRow, statusBar } from './helpers/server-view-drive.js';
import { until } from './helpers/until.js';

const TINY = 'modeldeck/tiny-chat';
const TEN = 'modeldeck/chat-10m';

const models = await demoModelsDir([TINY, TEN]);
const mirror = await startTestMirror(models);
t.teardown(() => mirror.close());

/** Another client loads `model` on the server and waits for it to be resident. */
async function otherLoads(url: string, model: string): Promise<void> {
  const outcome = await subscribeLoad({ server: url, model, fetch: other });
  if (!outcome.ok) throw new Error(`the other client's load failed: ${outcome.failure.message}`);
}

/** A dashboard of one session on `url`, ready, with the server view holding the keys and `models` rows in it. */
async function drivenDashboard(
  t: Test,
  url: string,
  options: { readOnly?: boolean; rows: readonly string[] },
): Promise<{ dash: Dashboard; input: NodeJS.WritableStream }> {
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [{ server: url, model: TINY }],
    input,
    output,
    ...(options.readOnly === true ? { readOnly: true } : {}),
  });
  t.teardown(() => dash.shutdown());
  await until('ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'), 30_000);
  input.write('v');
  await until('the server view with the keys', () => dash.ui().serverFocused);
  await until(
    `the rows of ${options.rows.join(', ')}`,
    () => options.rows.every((model) => rowLine(dash, model)?.includes('resident') === true),
    15_000,
  );
  return { dash, input };
}

t.test('the cursor unloads another client’s model only through its dialog, and L loads it again', async (t) => {
  const srv = await loggedServer(mirror.url);
  t.teardown(() => srv.close());
  await otherLoads(srv.url, TEN);
  const { dash, input } = await drivenDashboard(t, srv.url, { rows: [TINY, TEN] });

  const hint = await selectRow(dash, input, TEN);
  t.match(
    hint,
    `U unload ${TEN} on ${srv.url} · no session here: another client’s · Enter opens a session`,
    'the hint says what U would do, and whom it reaches, before anything is asked',
  );
  t.match(rowLine(dash, TEN), /▶ modeldeck\/chat-10m\s+resident/, 'the selected row is marked');
  t.notMatch(rowLine(dash, TINY), /▶/, 'and no other');

  // The dialog opens on Keep and names whom it affects; Enter on Keep, or a letter, unloads nothing.
  input.write('U');
  await until('the unload dialog', () => dash.ui().prompt?.kind === 'unload');
  const dialog = flat(dash);
  t.match(dialog, `Unload ${TEN}@main for every client of ${srv.url}?`, 'the model, the server, every client');
  t.match(dialog, 'No session here uses it.', 'and that no session here does');
  t.match(dialog, /▶ Keep ◀ +\[ Unload \]/, 'opened on Keep');
  input.write('\r');
  await until('closed on Keep', () => dash.ui().prompt === null);
  input.write('U');
  await until('the unload dialog again', () => dash.ui().prompt?.kind === 'unload');
  input.write('y');
  await until('closed by a letter', () => dash.ui().prompt === null);
  t.match(statusBar(dash), 'kept: the model stays loaded');
  t.same(await listed(srv.url), [`${TEN}@main loaded`, `${TINY}@main loaded`], 'Keep unloaded nothing');
  t.notOk(
    srv.requests.some((r) => r.startsWith('POST /unload_model')),
    'no unload was asked',
  );

  // → to Unload, then Enter: another client's model leaves the server's memory; this dashboard's stays.
  input.write('U');
  await until('the unload dialog', () => dash.ui().prompt?.kind === 'unload');
  input.write('\x1b[C');
  await until('Unload chosen', () => dash.ui().prompt?.choice === 1);
  input.write('\r');
  await until('the notice', () => statusBar(dash).includes(`unloaded ${TEN} on ${srv.url} for every client`));
  t.same(await listed(srv.url), [`${TEN}@main cached`, `${TINY}@main loaded`], 'unloaded on the server');
  t.ok(srv.requests.includes('POST /unload_model dash'), 'with POST /unload_model');
  await until('the row follows', () => /on-disk|unloaded/.test(rowLine(dash, TEN) ?? ''));
  t.match(rowLine(dash, TEN), /▶/, 'the cursor stayed on its model as the rows re-sorted');

  // U on a model not in memory is refused with a message; L loads it, through its own dialog.
  input.write('U');
  await until('the refusal', () => statusBar(dash).includes('nothing to unload'));
  t.equal(dash.ui().prompt, null, 'no dialog for an action the row cannot take');
  input.write('L');
  await until('the load dialog', () => dash.ui().prompt?.kind === 'load');
  t.match(flat(dash), `Load ${TEN}@main into the memory of ${srv.url}?`);
  t.match(flat(dash), /▶ Keep ◀ +\[ Load \]/, 'opened on Keep');
  input.write('\x1b[C\r');
  await until('loaded', () => statusBar(dash).includes(`loaded ${TEN} on ${srv.url}`), 30_000);
  t.same(await listed(srv.url), [`${TEN}@main loaded`, `${TINY}@main loaded`], 'resident again');
  t.equal(dash.sessions().length, 1, 'no session was opened for it');
});

t.test('Enter opens a session on the row, or focuses the one open on it', async (t) => {
  const srv = await loggedServer(mirror.url);
  t.teardown(() => srv.close());
  await otherLoads(srv.url, TEN);
  const { dash, input } = await drivenDashboard(t, srv.url, { rows: [TINY, TEN] });

  await selectRow(dash, input, TINY);
  t.match(statusBar(dash), /1 session here \(s1\).*Enter focuses s1/, 'the hint names the session here');
  await selectRow(dash, input, TEN);
  input.write('\r');
  await until('a second session', () => dash.sessions().length === 2);
  t.match(dash.sessions()[1], { server: srv.url, model: TEN }, 'on the row’s server and model');
  t.match(dash.ui(), { focus: 1, serverFocused: false, serverView: true }, 'focused, the view still shown');
  await until(
    'it joins the resident model',
    () => ['ready', 'cached'].includes(dash.sessions()[1]?.phase ?? ''),
    30_000,
  );

  input.write('v');
  await until('the view has the keys', () => dash.ui().serverFocused);
  await selectRow(dash, input, TINY);
  input.write('\r');
  await until('s1 focused', () => dash.ui().focus === 0 && !dash.ui().serverFocused);
  t.equal(dash.sessions().length, 2, 'no third session: Enter focused the one open on it');
});

t.test('Ctrl-F narrows the rows as it is typed; Enter keeps the filter, shown; Esc clears it', async (t) => {
  const srv = await loggedServer(mirror.url);
  t.teardown(() => srv.close());
  await otherLoads(srv.url, TEN);
  const { dash, input } = await drivenDashboard(t, srv.url, { rows: [TINY, TEN] });

  // A `/` (prose, or k9s's habit) opens nothing: it says which key filters.
  input.write('/');
  await until('the notice', () => statusBar(dash).includes('Ctrl-F filters the rows'));
  t.equal(dash.ui().prompt, null, '/ opens no prompt');
  input.write('\x06');
  await until('the filter prompt', () => dash.ui().prompt?.kind === 'server-filter');
  input.write('10m');
  await until('narrowed while typed', () => rowLine(dash, TINY) === undefined && rowLine(dash, TEN) !== undefined);
  input.write('\r');
  await until('kept', () => dash.ui().prompt === null && dash.ui().serverFilter === '10m');
  const screen = dash.screenText();
  t.match(screen, `server ${srv.url} · filter “10m”`, 'the pane says it is filtered');
  t.match(statusBar(dash), '[servers · filter “10m” · 1 row]', 'and so does the status bar');
  t.equal(rowLine(dash, TINY), undefined, 'the other row is hidden');
  // Acting still acts on the row shown: the cursor is on the one row left.
  t.match(statusBar(dash), `U unload ${TEN} on ${srv.url}`);

  input.write('\x06');
  await until('the filter prompt', () => dash.ui().prompt?.kind === 'server-filter');
  input.write('\x15nothing-like-it\r');
  await until('no row', () => dash.screenText().includes('no model here matches “nothing-like-it”'));
  input.write('\x1b');
  await until('cleared', () => dash.ui().serverFilter === '' && rowLine(dash, TINY) !== undefined);
  t.ok(rowLine(dash, TEN), 'every row is back');
  t.ok(dash.ui().serverFocused, 'the first Esc only cleared the filter');
  input.write('\x1b');
  await until('the keys back to the sessions', () => !dash.ui().serverFocused);
  t.ok(dash.ui().serverView, 'the view stays');
});

t.test('a read-only dashboard refuses load, unload and cancel from the view, saying so', async (t) => {
  const srv = await loggedServer(mirror.url);
  t.teardown(() => srv.close());
  await otherLoads(srv.url, TINY);
  await otherLoads(srv.url, TEN);
  const { dash, input } = await drivenDashboard(t, srv.url, { readOnly: true, rows: [TINY, TEN] });
  const before = srv.requests.length;

  const hint = await selectRow(dash, input, TEN);
  t.match(hint, `U unload ${TEN} on ${srv.url} (read-only: off)`, 'the hint says so before any key');
  for (const [key, action] of [
    ['U', 'unload'],
    ['C', 'cancel'],
    ['L', 'load'],
  ] as const) {
    input.write(key);
    await until(`${key} refused`, () => statusBar(dash).includes(`read-only: ${action} is off`));
    t.equal(dash.ui().prompt, null, `${key} opens no dialog`);
  }
  t.same(await listed(srv.url), [`${TEN}@main loaded`, `${TINY}@main loaded`], 'everything resident');
  t.same(
    srv.requests.slice(before).filter((r) => r.endsWith(' dash') && !r.startsWith('GET ')),
    [],
    'nothing but reading went to the server',
  );
});

/** Two paragraphs of the README, as a person would type them (its line breaks are wrapping: spaces). */
async function readmeProse(): Promise<string> {
  const readme = await readFile(repoPath('README.md'), 'utf8');
  const paragraphs = readme
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
    .filter((p) => /^[A-Z][a-z]/.test(p) && p.length > 200);
  const chosen = paragraphs.slice(0, 2);
  if (chosen.length < 2) throw new Error('the README has lost its prose');
  return chosen.join(' ');
}

t.test('a paragraph of English typed into the server view leaves every model resident', async (t) => {
  const srv = await loggedServer(mirror.url);
  t.teardown(() => srv.close());
  await otherLoads(srv.url, TEN);
  const { dash, input } = await drivenDashboard(t, srv.url, { rows: [TINY, TEN] });
  let quit = false;
  void dash.closed.then(() => (quit = true));
  const before = srv.requests.length;
  const prose =
    `${await readmeProse()} Unload it? Cancel that, Load the other one; Quite Useless Letters Cause Chaos. ` +
    'jump to row 2, then /filter the list and go back.';
  t.ok(/U.*C.*L/s.test(prose) && /[jkv/l]/.test(prose), 'the text holds every key of the view');
  const dialogs = new Set<string>();
  const kinds = new Set<string>();
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  let regained = 0;
  for (const ch of prose) {
    input.write(ch);
    await tick();
    const ui = dash.ui();
    const prompt = ui.prompt;
    if (prompt !== null) kinds.add(prompt.kind);
    if (prompt !== null && ['load', 'unload', 'cancel', 'quit'].includes(prompt.kind)) {
      dialogs.add(prompt.kind);
      t.equal(prompt.choice, prompt.choices?.indexOf('keep'), `a dialog opened by '${ch}' is on its Keep`);
    }
    // So that the whole text meets the view's keys: where a letter took them elsewhere (`l` the log, `v` closed the
    // view, a digit a session), the view gets them back.
    if (prompt === null && !ui.serverFocused) {
      regained++;
      if (ui.logFocused) input.write('\x1b');
      await tick();
      input.write('v');
    }
    await tick();
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.ok(dialogs.size >= 1, `capitals opened dialogs (${[...dialogs].join(', ')}), and the next letter closed each`);
  t.ok(regained > 0, `letters that leave the view were met too (${regained} times)`);
  t.same(
    [...kinds].filter((k) => !['load', 'unload', 'cancel', 'quit'].includes(k)),
    [],
    'no prompt took text',
  );
  t.notOk(quit, 'the program runs');
  t.same(
    dash.sessions().map((s) => [s.server, s.model]),
    [[srv.url, TINY]],
    'no session opened or closed',
  );
  t.same(await listed(srv.url), [`${TEN}@main loaded`, `${TINY}@main loaded`], 'every model resident');
  t.same(
    srv.requests.slice(before).filter((r) => r.endsWith(' dash') && !r.startsWith('GET ')),
    [],
    'nothing but reading went to the server: no load, no unload, no cancel',
  );
});
