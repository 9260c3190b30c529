// Deliberate control, on the real dashboard (a headless terminal) against a real modeldeck server loading real demo
// models: prose typed in the wrong mode changes nothing, every destructive key goes through a dialog that names whom it
// affects, a read-only dashboard changes nothing on the server, and the sessions outlive the program.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { subscribeLoad } from '../src/client/load-subscription.js';
import { resolveDashboardArgs } from '../src/cli/dashboard.js';
import { loadDashboardConfig } from '../src/tui/config.js';
import { startDashboard, type Dashboard } from '../src/tui/dashboard.js';
import { cellText, ROWS, terminal } from './helpers/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror, startTestServer, type TestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { repoPath } from './helpers/repo.js';

const TINY = 'modeldeck/tiny-chat';
const TEN = 'modeldeck/chat-10m';

const models = await demoModelsDir([TINY, TEN]);
// Fast enough for the tiny model, slow enough (10 MB at 2 MB/s) that another client's load of the larger one is
// still running when the dashboard looks.
const mirror = await startTestMirror(models, { throttle: 2_000_000 });
t.teardown(() => mirror.close());

/** A server whose every request is logged as `METHOD /path who`, `who` being the `x-client` header or `dash`. */
async function server(
  options: { apiKey?: string; watchKeys?: string[] } = {},
): Promise<TestServer & { requests: string[] }> {
  const srv = await startTestServer({ hubUrl: mirror.url, heartbeatMs: 300, ...options });
  const requests: string[] = [];
  srv.app.server.on('request', (req: IncomingMessage) =>
    requests.push(`${req.method ?? ''} ${req.url ?? ''} ${String(req.headers['x-client'] ?? 'dash')}`),
  );
  return Object.assign(srv, { requests });
}

/** Another client of the server: its requests say so. */
const other: typeof fetch = (input, init) =>
  fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), 'x-client': 'other' } });

/** What `GET /v1/models` says of each model: `id@rev status`. */
async function listed(url: string, apiKey?: string): Promise<string[]> {
  const response = await other(`${url}/v1/models`, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
  const body = (await response.json()) as { data: { id: string; status: string }[] };
  return body.data.map((m) => `${m.id} ${m.status}`).sort();
}

const statusBar = (dash: Dashboard): string => dash.screenText().split('\n')[ROWS - 1] ?? '';
/** The screen's text with the dialog's border and the line breaks of its wrapping folded into single spaces. */
const flat = (dash: Dashboard): string => dash.screenText().replace(/[│┌┐└┘─\s]+/g, ' ');

/** Types `text` through the terminal one character at a time, calling `after` once each has been handled. */
async function typeSlowly(
  input: NodeJS.WritableStream,
  text: string,
  after: (ch: string) => Promise<void> | void,
): Promise<void> {
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  for (const ch of text) {
    input.write(ch);
    await tick();
    await after(ch);
  }
}

/** Two paragraphs of the README, as a person would type them (its line breaks are wrapping: spaces). */
async function readmeProse(): Promise<string> {
  const readme = await readFile(repoPath('README.md'), 'utf8');
  const paragraphs = readme
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
    .filter((p) => /^[A-Z][a-z]/.test(p) && p.length > 200);
  const chosen = [paragraphs[0], paragraphs[1]].filter((p): p is string => p !== undefined);
  if (chosen.length < 2) throw new Error('the README has lost its prose');
  return chosen.join(' ');
}

t.test('a paragraph of English typed in command mode unloads, closes, quits and opens nothing', async (t) => {
  const srv = await server();
  t.teardown(() => srv.close());
  const cwd = await mkdtemp(join(tmpdir(), 'modeldeck-prose-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [
      { server: srv.url, model: TINY },
      { server: srv.url, model: TINY },
    ],
    input,
    output,
    cwd,
  });
  t.teardown(() => dash.shutdown());
  let quit = false;
  void dash.closed.then(() => (quit = true));
  await until('both ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'));
  const before = await listed(srv.url);
  t.same(before, [`${TINY}@main loaded`]);
  const requestsBefore = srv.requests.length;

  const prose =
    `${await readmeProse()} buy guy xylophone, quick question: the server looks fine now, good guy. ` +
    'Under Xanadu, Quentin Cancelled Unloads; eXtra Care, Quietly. Every Option.';
  t.ok(
    /[U].*[X].*[C].*[Q]/s.test(prose) && /[euxoqacwy/]/.test(prose),
    'the text holds every letter that once did harm',
  );
  const dialogs = new Set<string>();
  const kinds = new Set<string>();
  let typing = 0;
  await typeSlowly(input, prose, async (ch) => {
    const ui = dash.ui();
    if (ui.prompt !== null) kinds.add(ui.prompt.kind);
    if (ui.prompt !== null && ['close', 'cancel', 'unload', 'quit'].includes(ui.prompt.kind)) {
      dialogs.add(ui.prompt.kind);
      t.equal(ui.prompt.choice, ui.prompt.choices?.indexOf('keep'), `a dialog opened by '${ch}' is on its Keep`);
    }
    // No letter starts a message (only Enter does); were one to, Esc, so that the rest of the prose meets the command
    // keys too, and the count below fails.
    if (ui.composing) {
      typing++;
      input.write('\x1b');
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 200));

  t.same(
    [...kinds].filter((k) => !['close', 'cancel', 'unload', 'quit'].includes(k)),
    [],
    'no prompt that takes text ever opened',
  );
  t.ok(dialogs.size >= 2, `capitals opened dialogs (${[...dialogs].join(', ')}), and the next letter closed each`);
  t.equal(typing, 0, 'no letter started a message: the prose never reached an input line');
  t.notOk(quit, 'the program runs');
  t.equal(dash.sessions().length, 2, 'every session open');
  t.same(
    dash.sessions().map((s) => [s.server, s.model]),
    [
      [srv.url, TINY],
      [srv.url, TINY],
    ],
    'no session edited',
  );
  t.same(await listed(srv.url), before, 'the model is resident');
  const sent = srv.requests.slice(requestsBefore).filter((r) => r.endsWith(' dash'));
  t.same(
    sent.filter((r) => !r.startsWith('GET ')),
    [],
    'nothing but reading went to the server: no unload, no cancel, no load, no chat',
  );
  t.same(await readdir(cwd), [], 'no file written');
});

t.test('each destructive key opens a dialog on Keep that names whom it affects; → and Enter do it', async (t) => {
  const srv = await server();
  t.teardown(() => srv.close());
  const cwd = await mkdtemp(join(tmpdir(), 'modeldeck-dialogs-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [
      { server: srv.url, model: TINY },
      { server: srv.url, model: TINY },
    ],
    input,
    output,
    cwd,
    maxTokens: 4,
  });
  t.teardown(() => dash.shutdown());
  await until('both ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'));

  // Unload: the dialog names the model and the server, and every client of it; Enter on Keep keeps it.
  input.write('U');
  await until('the unload dialog', () => (dash.ui().prompt?.kind === 'unload' ? true : undefined));
  const unload = flat(dash);
  t.match(unload, `Unload ${TINY}@main for every client of ${srv.url}?`, 'who is affected');
  t.match(unload, 'Here, s1, s2 use it.', 'and the sessions here that use it');
  t.match(unload, /▶ Keep ◀ +\[ Unload \]/, 'opened on Keep');
  input.write('\r');
  await until('closed', () => dash.ui().prompt === null);
  t.same(await listed(srv.url), [`${TINY}@main loaded`], 'Enter on Keep unloads nothing');
  input.write('U');
  await until('the unload dialog', () => dash.ui().prompt?.kind === 'unload');
  input.write('\x1b[C');
  await until('Unload chosen', () => dash.ui().prompt?.choice === 1);
  t.match(flat(dash), /\[ Keep \] +▶ Unload ◀/);
  input.write('\r');
  await until('the notice', () => statusBar(dash).includes(`s1: unloaded ${TINY}@main`));
  t.notSame(await listed(srv.url), [`${TINY}@main loaded`], '→ then Enter unloaded it');
  t.ok(
    srv.requests.some((r) => r === 'POST /unload_model dash'),
    'with POST /unload_model',
  );

  // Close: the dialog says the transcript goes, and that nothing changes on the server.
  input.write('\x1b');
  input.write('2\rhi\r');
  await until('a reply in s2', () =>
    dash.sessions()[1]?.transcript.some((e) => e.role === 'assistant' && !e.streaming),
  );
  input.write('\x1b');
  await until('commands', () => !dash.ui().composing);
  input.write('X');
  await until('the close dialog', () => dash.ui().prompt?.kind === 'close');
  const close = flat(dash);
  t.match(close, `Close s2 (${TINY}@main on ${srv.url})?`);
  t.match(close, 'Its transcript (2 entries) is dropped, with no undo.');
  t.match(close, 'Nothing changes on the server');
  input.write('\x1b[C\r');
  await until('s2 closed', () => dash.sessions().length === 1);

  // Quit: on Cancel; Save log & quit writes the whole log for replay, then quits, and says where.
  input.write('Q');
  await until('the quit dialog', () => dash.ui().prompt?.kind === 'quit');
  const quit = flat(dash);
  t.match(quit, 'Quit modeldeck?');
  t.match(quit, /drops the event log \(\d+ lines\) unless saved/);
  t.match(quit, /\[ Save log & quit \] +\[ Quit \] +▶ Cancel ◀/);
  const logName = dash.ui().prompt?.saves?.log ?? '';
  t.match(logName, /^modeldeck-events-\d{8}-\d{6}\.jsonl$/);
  t.match(quit, `writes the event log to ${logName}`, 'the dialog says where the log goes');
  input.write('\x1b[D\x1b[D\r');
  await dash.closed;
  const saved = await readFile(join(cwd, logName), 'utf8');
  const lines = saved.trim().split('\n');
  t.ok(lines.length > 5, `${lines.length} lines saved`);
  t.ok(
    lines.every((line) => typeof (JSON.parse(line) as { time?: unknown }).time === 'string'),
    'JSON Lines, for replay',
  );
  t.match(dash.farewell(), [new RegExp(`^saved \\d+ log lines to ${join(cwd, logName)}$`)], 'it says where');
});

t.test('--read-only: no load of its own, no unload, no cancel; it follows other clients and chats', async (t) => {
  const srv = await server();
  t.teardown(() => srv.close());
  // Another client makes the tiny model resident.
  t.ok((await subscribeLoad({ server: srv.url, model: TINY, fetch: other })).ok);
  const before = await listed(srv.url);
  t.same(before, [`${TINY}@main loaded`]);
  const from = srv.requests.length;
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [
      { server: srv.url, model: TINY },
      { server: srv.url, model: TEN },
    ],
    readOnly: true,
    input,
    output,
    maxTokens: 4,
  });
  t.teardown(() => dash.shutdown());
  await until('s1 ready: resident', () => cellText(dash, 0, 2).includes('✓ ready'));
  const s2 = await until('s2 says it is not loaded', () => {
    const text = cellText(dash, 1, 2).replace(/\s+/g, ' ');
    return text.includes('read-only') ? text : undefined;
  });
  t.match(s2, 'not loaded on the server');
  t.same(await listed(srv.url), before, 'nothing loaded by the dashboard');
  t.same(
    srv.requests.filter((r) => r.endsWith(' dash') && !r.startsWith('GET ')),
    [],
    'only reading requests: no POST /load_model, even for the resident model',
  );

  // U and C say read-only, and open nothing.
  input.write('U');
  await until('the notice', () => statusBar(dash).includes('read-only: unload is off'));
  t.equal(dash.ui().prompt, null);
  input.write('\tC');
  await until('the notice', () => statusBar(dash).includes('read-only: cancel is off'));
  t.equal(dash.ui().prompt, null);

  // Another client loads the larger model: the read-only session joins that load, and follows it to ready.
  const otherLoad = subscribeLoad({ server: srv.url, model: TEN, fetch: other });
  await until('s2 follows the load', () => /loading|✓ ready/.test(cellText(dash, 1, 2)), 30_000);
  t.ok((await otherLoad).ok);
  await until('s2 ready', () => cellText(dash, 1, 2).includes('✓ ready'), 30_000);
  const startedBy = srv.requests.slice(from).filter((r) => r.startsWith('POST /load_model'));
  t.equal(startedBy[0], 'POST /load_model other', 'the other client started it');
  t.same(startedBy.slice(1), ['POST /load_model dash'], 'the dashboard only joined it');

  // Chat stays possible.
  input.write('1\rhello\r');
  await until('a reply', () => dash.sessions()[0]?.transcript.some((e) => e.role === 'assistant' && !e.streaming));
  t.same(
    srv.requests.filter((r) => r.endsWith(' dash') && r.startsWith('POST ') && !r.startsWith('POST /load_model')),
    ['POST /v1/chat/completions dash'],
    'a chat, and nothing that changes the server besides',
  );
  t.same(await listed(srv.url), [`${TEN}@main loaded`, `${TINY}@main loaded`]);
});

t.test(
  'a read-only session with a watch key waits for another client’s load, asks nothing it may not, then is ready',
  async (t) => {
    const FULL = 'sk-full-77';
    const WATCH = 'sk-watch-77';
    const srv = await server({ apiKey: FULL, watchKeys: [WATCH] });
    t.teardown(() => srv.close());
    // Another client starts the 10 MB model (2 MB/s: a few seconds of download) before the dashboard opens.
    const otherLoad = subscribeLoad({ server: srv.url, model: TEN, apiKey: FULL, fetch: other });
    await until('the load under way', async () => (await listed(srv.url, FULL)).some((m) => m.includes('loading')));
    const { input, output } = terminal();
    const dash = startDashboard({
      sessions: [{ server: srv.url, model: TEN, apiKey: WATCH, readOnly: true }],
      input,
      output,
    });
    t.teardown(() => dash.shutdown());
    const waiting = await until('s1 waits', () => {
      const text = cellText(dash, 0, 1).replace(/\s+/g, ' ');
      return text.includes('waiting for another client to load it') ? text : undefined;
    });
    t.notMatch(waiting, '✗ error', 'waiting is not shown as an error');
    t.ok((await otherLoad).ok, 'the other client’s load ends ready');
    await until('s1 ready once the model is resident', () => cellText(dash, 0, 1).includes('✓ ready'), 30_000);
    const refused = srv.requests.filter((r) => r.startsWith('POST /load_model') && r.endsWith(' dash'));
    t.ok(refused.length <= 1, `the watch key asked to join the load at most once (${refused.length}), not per frame`);
  },
);

t.test('a chat refused with 403 (a watch-only key) says so in the pane', async (t) => {
  const refusal = {
    error: {
      message: 'this key may only watch: POST /v1/chat/completions needs full rights',
      type: 'permission_error',
      param: null,
      code: 'FORBIDDEN',
    },
  };
  const fake = createServer((req, res) => {
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/v1/models') {
      json(200, { object: 'list', data: [{ id: 'org/m@main', object: 'model', status: 'loaded' }] });
    } else if (req.url === '/v1/chat/completions') json(403, refusal);
    else json(404, { error: { message: 'no such route' } });
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  t.teardown(() => fake.close());
  const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: url, model: 'org/m', readOnly: true }], input, output });
  t.teardown(() => dash.shutdown());
  await until('ready: resident', () => cellText(dash, 0, 1).includes('✓ ready'));
  input.write('\rhello\r');
  const cell = await until('the refusal', () => {
    const text = cellText(dash, 0, 1).replace(/\s+/g, ' ');
    return text.includes('HTTP 403') ? text : undefined;
  });
  t.match(cell, 'HTTP 403 Forbidden: this key may only watch', 'the status and the server’s words');
});

t.test('Ctrl-S writes the sessions back to --config, keys as references; Q offers to when they changed', async (t) => {
  const KEY = 'sk-box-1234';
  const srv = await server({ apiKey: KEY });
  t.teardown(() => srv.close());
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'dash.json');
  await writeFile(
    path,
    JSON.stringify({ sessions: [{ name: 'box', server: srv.url, model: TINY, apiKeyEnv: 'BOX_KEY' }] }),
  );
  const env = { BOX_KEY: KEY };
  // As `modeldeck --config dash.json` opens it.
  const config = await resolveDashboardArgs(['--config', path], env);
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: config?.sessions ?? [],
    ...(config?.config !== undefined ? { config: config.config } : {}),
    env,
    cwd: dir,
    input,
    output,
  });
  t.teardown(() => dash.shutdown());
  await until('box ready', () => cellText(dash, 0, 1).includes('✓ ready'));

  // One session added with the key typed (the value of $BOX_KEY), one with a key no variable holds.
  input.write(`\x0e\r${TINY}\r${KEY}\r`);
  input.write(`\x0e\r${TINY}\rnot-in-any-variable\r`);
  await until('three sessions', () => dash.sessions().length === 3);
  input.write('\x13');
  await until('the prompt', () => dash.ui().prompt?.kind === 'save-sessions');
  t.equal(dash.ui().prompt?.text, path, 'the config file is offered');
  t.match(statusBar(dash), '[Enter writes over it]', 'saying it is written over');
  input.write('\r');
  const notice = await until('written', () =>
    statusBar(dash).includes('wrote 3 sessions') ? statusBar(dash) : undefined,
  );
  t.match(notice, `wrote 3 sessions to ${path} (replacing it)`);
  t.match(notice, 's3: its key is not written', 'the notice names the session whose key is left out');
  const text = await readFile(path, 'utf8');
  t.same(JSON.parse(text), {
    sessions: [
      { name: 'box', server: srv.url, model: TINY, apiKeyEnv: 'BOX_KEY' },
      { server: srv.url, model: TINY, apiKeyEnv: 'BOX_KEY' },
      { server: srv.url, model: TINY },
    ],
  });
  t.notMatch(text, KEY, 'no key in the clear');
  t.notMatch(text, 'not-in-any-variable');
  t.same(await readdir(dir), ['dash.json'], 'no temporary file left beside it');
  t.equal((await loadDashboardConfig(path, env)).length, 3, 'the file reads back');

  // Unchanged since written: the quit dialog offers the log only. Closing a session changes them: it offers both.
  input.write('Q');
  await until('the quit dialog', () => dash.ui().prompt?.kind === 'quit');
  t.same(dash.ui().prompt?.saves, { log: dash.ui().prompt?.saves?.log }, 'the log only');
  input.write('\x1b');
  input.write('X\x1b[C\r');
  await until('two sessions', () => dash.sessions().length === 2);
  input.write('Q');
  await until('the quit dialog', () => dash.ui().prompt?.kind === 'quit');
  t.equal(dash.ui().prompt?.saves?.sessions, path, 'the sessions too');
  t.match(flat(dash), '[ Save log & sessions & quit ]');
  input.write('\x1b[D\r');
  await dash.closed;
  t.equal(JSON.parse(await readFile(path, 'utf8')).sessions.length, 3, 'Quit wrote nothing');
  t.same(await readdir(dir), ['dash.json'], 'not even the log');
});

t.test(
  'without --config, Ctrl-S offers modeldeck.json, says before writing over one, and Save & quit keeps both',
  async (t) => {
    const srv = await server();
    t.teardown(() => srv.close());
    const cwd = await mkdtemp(join(tmpdir(), 'modeldeck-save-'));
    t.teardown(() => rm(cwd, { recursive: true, force: true }));
    await writeFile(join(cwd, 'modeldeck.json'), 'not mine\n', { mode: 0o640 });
    const { input, output } = terminal();
    const dash = startDashboard({ sessions: [{ server: srv.url, model: TINY }], input, output, cwd, env: {} });
    t.teardown(() => dash.shutdown());
    await until('ready', () => cellText(dash, 0, 1).includes('✓ ready'));

    input.write('\x13');
    await until('the prompt', () => dash.ui().prompt?.kind === 'save-sessions');
    t.equal(dash.ui().prompt?.text, 'modeldeck.json', 'the offered name');
    input.write('\r');
    await until('it exists', () => statusBar(dash).includes('modeldeck.json exists: Enter writes over it'));
    t.equal(await readFile(join(cwd, 'modeldeck.json'), 'utf8'), 'not mine\n', 'not written over unasked');
    input.write('\r');
    await until('written', () => statusBar(dash).includes('wrote 1 session to'));
    t.match(statusBar(dash), '(replacing it)');
    t.same(JSON.parse(await readFile(join(cwd, 'modeldeck.json'), 'utf8')), {
      sessions: [{ server: srv.url, model: TINY }],
    });

    // Another session: the sessions changed since modeldeck.json; Save & quit writes both, then quits.
    input.write(`\x0e\r${TINY}\r\r`);
    await until('two sessions', () => dash.sessions().length === 2);
    input.write('Q');
    await until('the quit dialog', () => dash.ui().prompt?.kind === 'quit');
    t.match(flat(dash), '[ Save log & sessions & quit ]');
    t.match(flat(dash), 'the open sessions to modeldeck.json');
    input.write('\x1b[D\x1b[D\r');
    await dash.closed;
    t.same(JSON.parse(await readFile(join(cwd, 'modeldeck.json'), 'utf8')).sessions.length, 2, 'the sessions written');
    const files = (await readdir(cwd)).sort();
    t.equal(files.length, 2, `the log and the sessions: ${files.join(', ')}`);
    t.equal(dash.farewell().length, 2, 'and it says where both went');
    t.equal((await stat(join(cwd, 'modeldeck.json'))).mode & 0o777, 0o640, 'the file’s permissions kept');
  },
);
