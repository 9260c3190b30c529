// Typing and commands never mix, and q asks before it loses anything: on the real dashboard (headless screen).
import t from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, openDashboard, ROWS, standinChatDashboard, startKillableServer } from './helpers/dashboard.js';
import { until } from './helpers/until.js';

const status = (text: string): string => text.split('\n')[ROWS - 1] ?? '';

t.test('sentences that start with each command letter, typed into a ready session, are sent as messages', async (t) => {
  const { dash, input, upstream } = await standinChatDashboard(t);
  input.write('\r');
  await until('typing', () => dash.ui().composing);
  t.match(status(dash.screenText()), 'typing', 'the mode is visible');
  const sentences = ['quick question', 'xylophone', 'are you ok', 'run this', 'look here', 'sure thing', 'cancel that'];
  for (const [n, sentence] of sentences.entries()) {
    input.write(`${sentence}\r`);
    await until(`"${sentence}" answered`, () => {
      const turns = dash.sessions()[0]?.transcript ?? [];
      return turns.filter((e) => e.role === 'assistant' && !e.streaming && e.content !== '').length === n + 1;
    });
  }
  const users = (dash.sessions()[0]?.transcript ?? []).filter((e) => e.role === 'user').map((e) => e.content);
  t.same(users, sentences, 'every sentence went out as a message, whole');
  t.equal(dash.sessions().length, 1, 'no session closed or added');
  t.equal(dash.ui().prompt, null, 'no prompt opened');
  t.notOk(dash.ui().logFocused || dash.ui().help || dash.ui().serverView, 'no view changed');
  t.equal(upstream.requests.filter((r) => r === 'POST /load_model').length, 1, 'no retry ran');
  let closed = false;
  void dash.closed.then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(closed, 'still running');

  // Out of the typing mode, a word is not a message (one with no command letter in it: `e` edits, `l` is the log).
  input.write('\x1b');
  await until('out of the typing mode', () => !dash.ui().composing);
  input.write('hmm');
  await until('the notice', () => status(dash.screenText()).includes('is not a command'));
  t.same(dash.ui().inputs, { s1: '' }, 'nothing typed outside the typing mode');
});

t.test('Q while a load runs opens the quit dialog on Cancel; a letter stays; ← and Enter quit', async (t) => {
  const models = await demoModelsDir(['modeldeck/chat-10m']);
  // 10 MB at 250 kB/s: the load runs for the whole test.
  const mirror = await startTestMirror(models, { throttle: 250_000 });
  t.teardown(() => mirror.close());
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { dash, input } = openDashboard(t, { sessions: [{ server: srv.url, model: 'modeldeck/chat-10m' }] });
  await until('loading', () => cellText(dash, 0, 1).includes('● loading'));
  input.write('Q');
  const asked = await until('the question', () => {
    const text = dash.screenText();
    return text.includes('Quit modeldeck?') ? text : undefined;
  });
  t.match(asked.replace(/[│\s]+/g, ' '), 'Quitting stops watching 1 load', 'says what is at stake');
  t.match(status(asked), '←→ choose · Enter presses · Esc keeps');
  input.write('y');
  await until('the question gone', () => dash.ui().prompt === null);
  let closed = false;
  void dash.closed.then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(closed, 'y kept the dashboard');
  input.write('Q\x1b[D\r');
  await dash.closed;
  t.pass('Q, ←, Enter quits');
});

t.test('the input line edits like a shell on the real dashboard, and Up recalls the message sent', async (t) => {
  const { dash, input } = await standinChatDashboard(t);
  /** The input line as the cell shows it (the last line that starts with `>`). */
  const shown = (): string =>
    (
      cellText(dash, 0, 1)
        .split('\n')
        .filter((l) => l.startsWith('>'))
        .at(-1) ?? ''
    ).trimEnd();
  /** What the dashboard holds for the line, `|` at the cursor. */
  const line = (): string => {
    const ui = dash.ui();
    const chars = [...(ui.inputs['s1'] ?? '')];
    const cursor = ui.cursors['s1'] ?? chars.length;
    return [...chars.slice(0, cursor), '|', ...chars.slice(cursor)].join('');
  };
  const LEFT = '\x1b[D';
  const RIGHT = '\x1b[C';
  input.write('\r');
  await until('typing', () => dash.ui().composing);
  input.write('helo wrld');
  await until('the text typed', () => shown() === '> helo wrld█');
  input.write(`${LEFT}${LEFT}${LEFT}o`);
  await until('an o typed three characters back', () => line() === 'helo wo|rld');
  t.equal(shown(), '> helo world', 'the screen shows the text as edited, the cursor on a character (no extra cell)');
  input.write(`\x1b[H${RIGHT}${RIGHT}${RIGHT}l`);
  await until('Home, three to the right, an l', () => line() === 'hell|o world');
  input.write('\x1b[F junk');
  await until('End, a word more', () => shown() === '> hello world junk█');
  input.write('\x17');
  await until('Ctrl-W took the word back', () => shown() === '> hello world █');
  input.write('\r');
  await until('the reply', () => {
    const turns = dash.sessions()[0]?.transcript ?? [];
    return turns.some((e) => e.role === 'assistant' && !e.streaming && e.content !== '');
  });
  const users = (): string[] =>
    (dash.sessions()[0]?.transcript ?? []).filter((e) => e.role === 'user').map((e) => e.content);
  t.same(users(), ['hello world'], 'the edited line went out, trimmed');
  await until('the line emptied', () => shown() === '>█' || shown() === '> █');

  input.write('throw this away\x15');
  await until('Ctrl-U emptied the line', () => line() === '|' && dash.ui().inputs['s1'] === '');
  input.write('a draft');
  await until('a draft typed', () => shown() === '> a draft█');
  input.write('\x1b[A');
  await until('Up recalls the message sent', () => shown() === '> hello world█');
  input.write('\x1b[B');
  await until('Down brings the draft back', () => shown() === '> a draft█');

  // An emoji typed inside the line (a terminal may send it as two halves): one character to the cursor.
  input.write(`\x15ab${LEFT}😀${LEFT}${LEFT}x`);
  await until('the emoji typed inside the line, stepped over whole', () => line() === 'x|a😀b');
  t.equal(shown(), '> xa😀b');

  // A line longer than the cell: the cursor stays in sight, an ellipsis at the cut side.
  const long = `${'word '.repeat(40)}end`;
  input.write(`\x1b[F\x15${long}`);
  await until('the long line, its end in sight', () => /^> ….*end█$/.test(shown()));
  input.write('\x1b[H');
  await until('Home: its start in sight, cut at the end', () => /^> word word .*…$/.test(shown()));
  input.write('\x1b[A\r');
  await until('Up and Enter send the message again', () => users().length === 2);
  t.same(users(), ['hello world', 'hello world']);

  // A prompt edits the same way.
  input.write('\x1b');
  await until('out of the typing mode', () => !dash.ui().composing);
  input.write('\x0e');
  await until('the add prompt', () => dash.ui().prompt?.kind === 'add-server');
  input.write(`htp://b junk\x17\x1b[H${RIGHT}t`);
  await until('Ctrl-W, Home, Right and a t in the prompt', () => dash.ui().prompt?.text === 'http://b ');
  t.match(status(dash.screenText()), 'server URL', 'the prompt is on the status bar');
  t.match(status(dash.screenText()), ': http://b  ', 'with the text as edited');
});
