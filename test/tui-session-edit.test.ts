// Sessions that can be fixed in place, on the real dashboard (headless terminal) against a real modeldeck server
// with an API key: `a` asks for the key (masked, its default stated), `e` edits the focused session's server, model
// and key and reopens it, keeping its tag and transcript.
import t from 'tap';
import { startDashboard } from '../src/tui/dashboard.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror } from './helpers/stack.js';
import { cellText, startKillableServer, terminal } from './helpers/dashboard.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';
const RIGHT = 'right-key-123';
const WRONG = 'wrong-key-456';

const mirror = await startTestMirror(await demoModelsDir());
t.teardown(() => mirror.close());

/** The status bar: the screen's last line. */
const statusBar = (screen: string): string => screen.trimEnd().split('\n').at(-1) ?? '';

t.test(
  'a wrong key added with Ctrl-N shows the 401; Ctrl-E fixes it in place, keeping the tag and transcript',
  async (t) => {
    const srv = await startKillableServer(mirror.url, { apiKey: RIGHT });
    t.teardown(() => srv.close());
    const { input, output } = terminal();
    const dash = startDashboard({
      sessions: [{ server: srv.url, model: MODEL, apiKey: RIGHT }],
      input,
      output,
      maxTokens: 8,
    });
    t.teardown(() => dash.shutdown());
    await until('s1 ready', () => cellText(dash, 0, 1).includes('✓ ready'));

    const screens: string[] = [];
    const look = (): string => {
      const screen = dash.screenText();
      screens.push(screen);
      return screen;
    };

    // Ctrl-N: server (Enter takes the default, s1's), model, then the key, whose default is named.
    input.write('\x0e');
    input.write('\r');
    input.write(MODEL);
    input.write('\r');
    await until('the key prompt', () => dash.ui().prompt?.kind === 'add-key');
    const asked = statusBar(look());
    t.match(asked, 'API key', 'the third step asks for the key');
    t.match(asked, 'Enter: key of s1', 'and names the default: the key of the session on that server');
    input.write(WRONG);
    await until('the key typed', () => dash.ui().prompt?.text === WRONG);
    const typed = statusBar(look());
    t.match(typed, '•'.repeat(WRONG.length), 'the key shows masked');
    input.write('\r');

    const bad = await until('the 401 in s2', () => {
      const text = cellText(dash, 1, 2).replace(/\s+/g, ' ');
      return text.includes('HTTP 401') ? text : undefined;
    });
    t.match(bad, 'the API key is not valid for this server');
    t.equal(dash.sessions()[1]?.tag, 's2');
    t.equal(dash.ui().focus, 1, 'the new session has the focus');
    const requestsBefore = srv.loadRequests();

    // Ctrl-E: server and model prefilled (Enter keeps them), the key shown as ••• until retyped.
    input.write('\x05');
    await until('the edit prompt', () => dash.ui().prompt?.kind === 'edit-server');
    t.match(statusBar(look()), `edit session s2 · server URL`, 'names the session');
    t.equal(dash.ui().prompt?.text, srv.url, 'the URL is prefilled');
    input.write('\r');
    await until('the model step', () => dash.ui().prompt?.kind === 'edit-model');
    t.equal(dash.ui().prompt?.text, MODEL, 'the model is prefilled');
    input.write('\r');
    await until('the key step', () => dash.ui().prompt?.kind === 'edit-key');
    const keyStep = statusBar(look());
    t.match(keyStep, '•••', 'the current key shows as •••');
    t.match(keyStep, 'Enter: keep the key', 'Enter keeps it');
    input.write(RIGHT);
    await until('the new key typed', () => dash.ui().prompt?.text === RIGHT);
    t.match(statusBar(look()), '•'.repeat(RIGHT.length), 'the new key shows masked');
    input.write('\r');

    await until('s2 ready, no restart', () => cellText(dash, 1, 2).includes('✓ ready'));
    t.equal(dash.sessions().length, 2, 'still two sessions');
    t.equal(dash.sessions()[1]?.tag, 's2', 'keeps its tag');
    t.equal(dash.sessions()[1]?.error, null, 'the 401 is gone');
    t.ok(srv.loadRequests() > requestsBefore, 'the session loaded again on the new key');

    // A transcript survives an edit: chat in s2, then Ctrl-E with every value kept (Enter three times).
    input.write('\rhello\r');
    await until('a reply in s2', () =>
      dash.sessions()[1]?.transcript.some((e) => e.role === 'assistant' && !e.streaming),
    );
    input.write('\x1b');
    const transcript = dash.sessions()[1]?.transcript;
    input.write('\x05\r\r\r');
    await until('reopened', () => dash.ui().prompt === null && dash.sessions()[1]?.phase !== 'ready');
    await until('s2 ready again', () => cellText(dash, 1, 2).includes('✓ ready'));
    t.same(dash.sessions()[1]?.transcript, transcript, 'the transcript is kept');
    t.match(cellText(dash, 1, 2), 'you: hello');

    look();
    const logged = JSON.stringify(dash.logEntries()) + JSON.stringify(dash.journalEntries());
    for (const key of [RIGHT, WRONG]) {
      t.notOk(
        screens.some((s) => s.includes(key)),
        `${key} never appears on screen`,
      );
      t.notMatch(logged, key, `${key} is not in the event log or the wire journal`);
    }
  },
);

t.test('Ctrl-N with - adds a session with no key, even beside a session with one', async (t) => {
  const srv = await startKillableServer(mirror.url, { apiKey: RIGHT });
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({ sessions: [{ server: srv.url, model: MODEL, apiKey: RIGHT }], input, output });
  t.teardown(() => dash.shutdown());
  input.write(`\x0e\r${MODEL}\r-`);
  await until('- typed', () => dash.ui().prompt?.text === '-');
  t.match(statusBar(dash.screenText()), '- (no key)');
  input.write('\r');
  const text = await until('a 401 for the keyless session', () => {
    const cell = cellText(dash, 1, 2).replace(/\s+/g, ' ');
    return cell.includes('HTTP 401') ? cell : undefined;
  });
  t.notMatch(text, 'not valid', 'it sent no key (the server says one is missing, not wrong)');

  // 1–9 jump to that session; while typing a digit is text.
  t.equal(dash.ui().focus, 1);
  input.write('1');
  await until('s1 focused', () => statusBar(dash.screenText()).startsWith('[s1]'));
  input.write('\r2');
  await until('the digit typed', () => dash.ui().inputs['s1'] === '2');
  t.equal(dash.ui().focus, 0, 'typing 2 does not jump');
  input.write('\x1b');
  await until('out of typing', () => !dash.ui().composing);
  input.write('2');
  await until('s2 focused', () => statusBar(dash.screenText()).startsWith('[s2]'));
  input.write('5');
  await until('the notice', () => statusBar(dash.screenText()).includes('no session 5: 2 are open'));
});

t.test('a configured name is the session tag on screen, in the event log and in the wire journal', async (t) => {
  const srv = await startKillableServer(mirror.url);
  t.teardown(() => srv.close());
  const { input, output } = terminal();
  const dash = startDashboard({
    sessions: [
      { name: 'gpu-box', server: srv.url, model: MODEL },
      { server: srv.url, model: MODEL },
    ],
    input,
    output,
  });
  t.teardown(() => dash.shutdown());
  await until('both ready', () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'));
  t.same(
    dash.sessions().map((s) => s.tag),
    ['gpu-box', 's2'],
    'the name, and the id for an unnamed one',
  );
  const screen = dash.screenText();
  t.match(screen, `gpu-box ${MODEL}`, 'the pane title shows the name');
  t.match(statusBar(screen), '[gpu-box]', 'so does the status bar');
  t.ok(
    dash.logEntries().some((e) => e.session === 'gpu-box' && e.kind === 'data'),
    'its frames are logged under the name',
  );
  t.notOk(
    dash.logEntries().some((e) => e.session === 's1'),
    'never under its id',
  );
  t.ok(
    dash.journalEntries().some((e) => JSON.stringify(e).includes('gpu-box load')),
    'the wire journal names its streams by the name',
  );
  // The log pane shows the tag column.
  input.write('l');
  await until('the name in the log pane', () => /\d\d:\d\d:\d\d\.\d{3} gpu-box data:/.test(dash.screenText()));
});
