// The key router, pure: every key of the help overlay does what it says, in each mode.
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { createUiState, KEY_HELP, routeKey, type KeyContext, type KeyPress, type UiState } from '../src/tui/keys.js';
import { defaultLogFileName } from '../src/tui/keys/global.js';
import { notCommand } from '../src/tui/keys/session.js';
import { notServerKey } from '../src/tui/keys/servers.js';

const ctx: KeyContext = {
  sessions: [
    { id: 's1', tag: 's1', server: 'http://a:1', canChat: true },
    { id: 's2', tag: 's2', server: 'http://b:2', canChat: false },
  ],
  lastSeq: 42,
  logPage: 10,
  defaultServer: 'http://a:1',
  now: Date.UTC(2026, 0, 2, 3, 4, 5),
};

const ch = (c: string): KeyPress => ({ ch: c, name: /^[a-z]$/.test(c) ? c : undefined });
const named = (name: string, extra: Partial<KeyPress> = {}): KeyPress => ({ name, ...extra });
const ENTER = named('enter', { ch: '\r' });

/** Types keys in order, collecting commands. */
function type(ui: UiState, keys: (KeyPress | string)[], context = ctx) {
  const commands = [];
  for (const key of keys) {
    const list = typeof key === 'string' ? [...key].map(ch) : [key];
    for (const k of list) {
      const r = routeKey(ui, k, context);
      ui = r.ui;
      commands.push(...r.commands);
    }
  }
  return { ui, commands };
}

t.test('Tab / Shift-Tab move between sessions, wrapping', async (t) => {
  let ui = createUiState();
  ui = type(ui, [named('tab')]).ui;
  t.equal(ui.focus, 1);
  ui = type(ui, [named('tab')]).ui;
  t.equal(ui.focus, 0);
  ui = type(ui, [named('tab', { shift: true })]).ui;
  t.equal(ui.focus, 1);
});

t.test('command keys act on the focused session; what destroys asks in a dialog opened on Keep', async (t) => {
  const ui = { ...createUiState(), focus: 1 };
  const failed: KeyContext = { ...ctx, sessions: ctx.sessions.map((s) => ({ ...s, failed: true })) };
  t.same(type(ui, ['r'], failed).commands, [{ type: 'retry', sessionId: 's2' }], 'r retries a failed session');
  t.same(
    type(ui, ['r']).commands,
    [{ type: 'notice', text: 's2: nothing to retry (r retries after an error)' }],
    'and nothing else: a stray r never re-requests a load',
  );
  t.same(type(ui, ['X']).commands, [], 'X asks first');
  t.same(type(ui, ['X']).ui.prompt, {
    kind: 'close',
    text: '',
    sessionId: 's2',
    choices: ['keep', 'close'],
    choice: 0,
  });
  t.same(type(ui, ['X', ENTER]).commands, [], 'Enter at once presses Keep');
  t.equal(type(ui, ['X', ENTER]).ui.prompt, null);
  const RIGHT = named('right');
  t.same(type(ui, ['X', RIGHT, ENTER]).commands, [{ type: 'close', sessionId: 's2' }], '→ then Enter closes');
  t.same(type(ui, ['X', named('tab'), ENTER]).commands, [{ type: 'close', sessionId: 's2' }], 'Tab moves too');
  t.same(type(ui, ['X', RIGHT, RIGHT, ENTER]).commands, [], 'and wraps back to Keep');
  t.same(type(ui, ['X', RIGHT, named('left'), ENTER]).commands, [], '← goes back');
  for (const answer of ['y', 'Y', ' ']) {
    const kept = type(ui, ['X', RIGHT, answer, ENTER]);
    t.same(
      kept.commands.filter((c) => c.type !== 'notice'),
      [],
      `a character (${JSON.stringify(answer)}) never presses a button, even the chosen one`,
    );
  }
  t.match(type(ui, ['X', 'y']).commands, [{ type: 'notice', text: /^kept: the session is open/ }], 'and says so');
  t.equal(type(ui, ['X', 'y']).ui.prompt, null, 'closing the dialog');
  t.same(type(ui, ['X', RIGHT, named('escape')]).commands, [], 'Esc keeps');
  t.same(type(ui, ['X', RIGHT, named('up')]).ui.prompt?.choice, 1, 'other keys wait');
  t.same(type(ui, ['U', RIGHT, ENTER]).commands, [{ type: 'unload', sessionId: 's2' }], 'U unloads the same way');
  t.same(type(ui, ['C', RIGHT, ENTER]).commands, [{ type: 'cancel', sessionId: 's2' }], 'C cancels the same way');
  for (const letter of ['x', 'c', 'u', 'q', 'y', 'e', 'a', 'o', 'w']) {
    const r = type(ui, [letter]);
    t.same([r.ui.prompt, r.commands.map((c) => c.type)], [null, ['notice']], `${letter} only says how to type`);
  }
  t.match(type(ui, ['u']).commands, [
    { text: "'u' is not a command (U unload, asks first) · press Enter to type · ? keys" },
  ]);
  t.match(type(ui, ['e']).commands, [{ text: "'e' is not a command (Ctrl-E edit) · press Enter to type · ? keys" }]);
  t.equal(type(ui, ['Q']).ui.prompt?.kind, 'quit', 'Q asks to quit');
  t.same(type(ui, [named('c', { ctrl: true })]).commands, [{ type: 'quit' }], 'Ctrl-C with nothing to lose quits');
  t.ok(type(ui, ['?']).ui.help);
  t.notOk(type(type(ui, ['?']).ui, ['q']).ui.help, 'any key closes help (and does nothing else)');
  t.same(type(type(ui, ['?']).ui, ['q']).commands, []);
  t.ok(type(ui, ['l']).ui.logFocused);
});

t.test('typing: Enter starts a message, Enter sends, Esc leaves, Backspace deletes', async (t) => {
  t.notOk(type(createUiState(), ['h']).ui.composing, 'a letter alone never starts a message');
  let r = type(createUiState(), [ENTER, 'hello', named('backspace'), 'p!']);
  t.ok(r.ui.composing);
  t.same(r.ui.inputs, { s1: 'hellp!' });
  r = type(r.ui, [ENTER]);
  t.same(r.commands, [{ type: 'send', sessionId: 's1', text: 'hellp!' }]);
  t.same(r.ui.inputs, { s1: '' });
  t.ok(r.ui.composing, 'still typing after a send');
  r = type(r.ui, ['q', 'a', 'x']);
  t.same(r.commands, [], 'while typing, command letters are text');
  t.same(r.ui.inputs, { s1: 'qax' });
  r = type(r.ui, [named('escape')]);
  t.notOk(r.ui.composing);
  t.equal(type(r.ui, ['Q']).ui.prompt?.kind, 'quit', 'after Esc they are commands again');
  t.ok(type(createUiState(), [ENTER]).ui.composing, 'Enter starts typing');
  t.notOk(
    type(createUiState(), ['i']).ui.composing,
    'i is a letter like the others: no word of prose starts a message',
  );
  t.same(type(createUiState(), [ENTER, ENTER]).commands, [], 'an empty message is not sent');
});

const ctrl = (name: string): KeyPress => ({ name, ctrl: true });
const meta = (name: string): KeyPress => ({ name, meta: true });
/** The focused session's input line, `|` at the cursor. */
const inputLine = (ui: UiState, id = 's1'): string => {
  const chars = [...(ui.inputs[id] ?? '')];
  const cursor = ui.cursors[id] ?? chars.length;
  return [...chars.slice(0, cursor), '|', ...chars.slice(cursor)].join('');
};

t.test(
  'the input line edits like a shell: cursor keys, Home / End, Ctrl-A / Ctrl-E, Ctrl-U / Ctrl-K / Ctrl-W',
  async (t) => {
    let r = type(createUiState(), [ENTER, 'helo world']);
    t.equal(inputLine(r.ui), 'helo world|');
    r = type(r.ui, [...Array<KeyPress>(7).fill(named('left')), 'l']);
    t.equal(inputLine(r.ui), 'hell|o world', 'Left moves the cursor back; text goes in at the cursor');
    r = type(r.ui, [named('home'), 'H', named('delete')]);
    t.equal(inputLine(r.ui), 'H|ello world', 'Home, then a character typed at the start, Del deletes under the cursor');
    r = type(r.ui, [named('end'), '!', named('left'), named('backspace')]);
    t.equal(inputLine(r.ui), 'Hello worl|!', 'End, then Backspace deletes before the cursor');
    r = type(r.ui, [ctrl('a')]);
    t.equal(inputLine(r.ui), '|Hello worl!', 'Ctrl-A: the start');
    r = type(r.ui, [ctrl('e')]);
    t.equal(inputLine(r.ui), 'Hello worl!|', 'Ctrl-E: the end');
    r = type(r.ui, [ctrl('w')]);
    t.equal(inputLine(r.ui), 'Hello |', 'Ctrl-W deletes the word before the cursor');
    r = type(r.ui, ['there friend', meta('b')]);
    t.equal(inputLine(r.ui), 'Hello there |friend', 'Alt-B: a word back');
    r = type(r.ui, [ctrl('left')]);
    t.equal(inputLine(r.ui), 'Hello |there friend', 'Ctrl-Left too');
    r = type(r.ui, [meta('f')]);
    t.equal(inputLine(r.ui), 'Hello there| friend', 'Alt-F: a word on');
    r = type(r.ui, [ctrl('right'), named('left'), named('right')]);
    t.equal(inputLine(r.ui), 'Hello there friend|', 'Ctrl-Right too; Right moves on');
    r = type(r.ui, [meta('b'), ctrl('k')]);
    t.equal(inputLine(r.ui), 'Hello there |', 'Ctrl-K deletes to the end');
    r = type(r.ui, [meta('b'), ctrl('u')]);
    t.equal(inputLine(r.ui), '|there ', 'Ctrl-U deletes to the start');
    r = type(r.ui, [named('right'), ctrl('h')]);
    t.equal(inputLine(r.ui), '|here ', 'Ctrl-H is Backspace');
    t.same(r.commands, [], 'no editing key is a command');
    t.ok(r.ui.composing, 'and none leaves typing');
    r = type(r.ui, [named('end'), 'x', ENTER]);
    t.same(
      r.commands,
      [{ type: 'send', sessionId: 's1', text: 'here x' }],
      'Enter sends the whole line, not up to the cursor',
    );
    t.equal(inputLine(r.ui), '|', 'and empties it');
    const still = type(createUiState(), [ENTER, 'ab', named('left')]).ui;
    t.equal(routeKey(still, named('left'), ctx).ui.cursors['s1'], 0);
    const atStart: UiState = { ...still, cursors: { s1: 0 } };
    t.same(routeKey(atStart, named('left'), ctx).ui, atStart, 'Left at the start changes nothing');
    t.equal(
      inputLine(type(createUiState(), [named('tab'), ENTER, 'a😀b', named('left'), named('left')]).ui, 's2'),
      'a|😀b',
      'the cursor steps over an emoji whole',
    );
  },
);

t.test('Up / Down while typing walk the messages sent in the session, the draft kept', async (t) => {
  let r = type(createUiState(), [ENTER, 'first', ENTER, 'second', ENTER, 'second', ENTER, 'draf']);
  t.equal(r.commands.length, 3);
  t.same(r.ui.histories['s1']?.sent, ['first', 'second'], 'kept once when sent twice in a row');
  r = type(r.ui, [named('up')]);
  t.equal(inputLine(r.ui), 'second|', 'Up: the newest, the cursor at its end');
  r = type(r.ui, [named('up')]);
  t.equal(inputLine(r.ui), 'first|');
  r = type(r.ui, [named('up')]);
  t.equal(inputLine(r.ui), 'first|', 'Up at the oldest stays');
  r = type(r.ui, [named('down'), named('down')]);
  t.equal(inputLine(r.ui), 'draf|', 'Down past the newest: the draft comes back');
  r = type(r.ui, [named('down')]);
  t.equal(inputLine(r.ui), 'draf|', 'and Down again does nothing');
  r = type(r.ui, [named('up'), named('up'), ' again', ENTER]);
  t.same(r.commands, [{ type: 'send', sessionId: 's1', text: 'first again' }], 'a recalled message, edited, is sent');
  t.same(r.ui.histories['s1']?.sent, ['first', 'second', 'first again']);
  r = type(r.ui, [named('up'), named('backspace'), named('up')]);
  t.equal(inputLine(r.ui), 'first again|', 'an edited recall ends the walk: Up starts a new one, at the newest');
  r = type(r.ui, [named('down')]);
  t.equal(inputLine(r.ui), 'first agai|', 'and comes back as the draft');
  const other = type(r.ui, [named('tab'), ENTER, named('up')]);
  t.equal(inputLine(other.ui, 's2'), '|', 'each session has its own history');
  t.equal(type(createUiState(), [named('up')]).ui.composing, false, 'Up outside typing does not start it');
});

t.test('prompts edit the same way as the input line', async (t) => {
  let r = type(createUiState(), [ctrl('n'), 'http://b:2', ctrl('a')]);
  t.match(r.ui.prompt, { kind: 'add-server', text: 'http://b:2', cursor: 0 });
  r = type(r.ui, [ctrl('k'), 'http://a.example:1 x', ctrl('w'), named('backspace'), named('home'), named('delete')]);
  t.match(r.ui.prompt, { text: 'ttp://a.example:1', cursor: 0 }, 'Ctrl-K, Ctrl-W, Backspace, Home, Del');
  r = type(r.ui, ['h', named('end'), meta('b'), ctrl('k')]);
  t.match(r.ui.prompt, { text: '', cursor: 0 }, 'Alt-B goes to the start (a URL is one word), Ctrl-K deletes it all');
  r = type(r.ui, ['http://c:3/', named('left'), ENTER]);
  t.match(r.ui.prompt, { kind: 'add-model', server: 'http://c:3' }, 'Enter takes the whole text');
  t.equal(r.ui.prompt?.cursor, undefined, 'the next step starts with the cursor at the end');
  r = type(r.ui, ['not an id', ENTER]);
  t.ok(r.ui.prompt?.error, 'a refused Enter says why');
  t.ok(type(r.ui, [named('left')]).ui.prompt?.error, 'moving the cursor keeps the reason');
  t.notOk(type(r.ui, [named('backspace')]).ui.prompt?.error, 'editing the text drops it');
  const moved = type(createUiState(), [ctrl('n'), ENTER, 'org/c', named('home')]).ui;
  const completed = routeKey(moved, named('tab'), { ...ctx, modelIds: ['org/chat'] }).ui.prompt;
  t.match(completed, { kind: 'add-model', text: 'org/chat' }, 'Tab completes the whole text, wherever the cursor is');
  t.equal(completed?.cursor, undefined, 'and leaves the cursor at the end');
  const edit = type(createUiState(), [ctrl('e'), named('left'), named('left'), 'x']);
  t.match(
    edit.ui.prompt,
    { kind: 'edit-server', text: 'http://ax:1', cursor: 9 },
    'a prefilled prompt starts at the end',
  );
});

t.test('a message to a session that cannot chat yet is kept, with a notice', async (t) => {
  const r = type({ ...createUiState(), focus: 1 }, [ENTER, 'hi', ENTER]);
  t.same(r.ui.inputs, { s2: 'hi' });
  t.equal(r.commands.length, 1);
  t.match(r.commands[0], { type: 'notice', text: /s2: .*not ready/ });
});

t.test('a message while a reply is still streaming is kept, with a notice that says so', async (t) => {
  const replying: KeyContext = {
    ...ctx,
    sessions: ctx.sessions.map((s) => (s.id === 's1' ? { ...s, replying: true } : s)),
  };
  const r = type(createUiState(), [ENTER, 'next', ENTER], replying);
  t.same(r.ui.inputs, { s1: 'next' }, 'the message stays on the input line');
  t.equal(r.commands.length, 1, 'nothing is sent');
  t.match(r.commands[0], { type: 'notice', text: /s1: a reply is still streaming; the message is kept/ });
  const after = type(r.ui, [ENTER]);
  t.match(after.commands, [{ type: 'send', sessionId: 's1', text: 'next' }], 'once it ended, Enter sends it');
});

t.test('keys reach the focused session only', async (t) => {
  const r = type(createUiState(), [named('tab'), ENTER, 'abc']);
  t.same(r.ui.inputs, { s2: 'abc' });
  const back = type(r.ui, [named('tab'), ENTER, 'z']);
  t.same(back.ui.inputs, { s2: 'abc', s1: 'z' }, 'Tab stops typing and moves; typing goes to the new session');
});

t.test('1–9 jump to that session, from the log too; a digit while typing is text', async (t) => {
  let r = type(createUiState(), ['2']);
  t.equal(r.ui.focus, 1, '2 focuses the second session');
  r = type(r.ui, ['1']);
  t.equal(r.ui.focus, 0);
  r = type(r.ui, ['l', '2']);
  t.equal(r.ui.logFocused, false, 'from the log, a digit goes to the session');
  t.equal(r.ui.focus, 1);
  const missing = type(r.ui, ['7']);
  t.equal(missing.ui.focus, 1, 'no session 7: the focus stays');
  t.same(missing.commands, [{ type: 'notice', text: 'no session 7: 2 are open' }]);
  const typing = type(createUiState(), [ENTER, '2']);
  t.equal(typing.ui.focus, 0, 'while typing the focus stays');
  t.same(typing.ui.inputs, { s1: '2' }, 'and the digit is text');
  const prompt = type(createUiState(), [ctrl('n'), '2']);
  t.equal(prompt.ui.prompt?.text, '2', 'in a prompt a digit is text');
});

t.test('Ctrl-E edits the focused session: server, model, key prefilled; Enter keeps, - drops the key', async (t) => {
  const withKeys: KeyContext = {
    ...ctx,
    sessions: [
      { id: 's1', tag: 's1', server: 'http://a:1', model: 'o/m', hasKey: true, canChat: true },
      { id: 's2', tag: 's2', server: 'http://b:2', model: 'o/n', canChat: false },
    ],
  };
  let r = type(createUiState(), [ctrl('e')], withKeys);
  t.same(r.ui.prompt, { kind: 'edit-server', text: 'http://a:1', sessionId: 's1' });
  r = type(r.ui, [ENTER], withKeys);
  t.same(r.ui.prompt, { kind: 'edit-model', text: 'o/m', server: 'http://a:1', sessionId: 's1' });
  r = type(r.ui, [ENTER], withKeys);
  t.match(r.ui.prompt, { kind: 'edit-key', text: '', keyDefault: 'keep' });
  t.same(type(r.ui, [ENTER], withKeys).commands, [
    { type: 'edit', sessionId: 's1', server: 'http://a:1', model: 'o/m' },
  ]);
  t.same(type(r.ui, ['-', ENTER], withKeys).commands, [
    { type: 'edit', sessionId: 's1', server: 'http://a:1', model: 'o/m', apiKey: null },
  ]);
  t.same(type(r.ui, ['k', '2', ENTER], withKeys).commands, [
    { type: 'edit', sessionId: 's1', server: 'http://a:1', model: 'o/m', apiKey: 'k2' },
  ]);
  const bad = type(createUiState(), [ctrl('e'), ...Array(10).fill(named('backspace')), 'nope', ENTER], withKeys);
  t.match(bad.ui.prompt, { kind: 'edit-server', error: /not a URL/ }, 'a bad URL is refused in place');
  const second = type(createUiState(), [named('tab'), ctrl('e'), ENTER, ENTER], withKeys);
  t.match(second.ui.prompt, { kind: 'edit-key', sessionId: 's2', keyDefault: 'no key' });
  t.equal(type(createUiState(), [ctrl('e'), named('escape')], withKeys).ui.prompt, null, 'Esc cancels');
});

t.test('add a session: server (default offered), then model, both validated', async (t) => {
  let r = type(createUiState(), [ctrl('n')]);
  t.equal(r.ui.prompt?.kind, 'add-server');
  r = type(r.ui, ['ftp://x', ENTER]);
  t.match(r.ui.prompt, { kind: 'add-server', error: /http/ }, 'a bad URL is refused in place');
  r = type(r.ui, [...Array(7).fill(named('backspace')), ENTER]);
  t.same(r.ui.prompt, { kind: 'add-model', text: '', server: 'http://a:1' }, 'empty takes the default server');
  r = type(r.ui, ['../etc', ENTER]);
  t.match(r.ui.prompt, { kind: 'add-model', error: /\.\./ });
  r = type(r.ui, [...Array(6).fill(named('backspace')), 'org/new@v2', ENTER]);
  t.match(r.ui.prompt, { kind: 'add-key', server: 'http://a:1', model: 'org/new@v2', keyDefault: 'no key' });
  r = type(r.ui, [ENTER]);
  t.equal(r.ui.prompt, null);
  t.same(r.commands, [{ type: 'add', server: 'http://a:1', model: 'org/new@v2' }], 'Enter: the default key');
  t.equal(type(type(createUiState(), [ctrl('n')]).ui, [named('escape')]).ui.prompt, null, 'Esc cancels');
});

t.test('the model prompts ask for the server ids; Tab completes from them, then cycles', async (t) => {
  const opened = type(createUiState(), [ctrl('n'), ENTER]);
  t.same(opened.commands, [{ type: 'list-models', server: 'http://a:1' }], 'the model prompt asks for the ids');
  const edit = type(createUiState(), [ctrl('e'), ENTER]);
  t.same(edit.commands, [{ type: 'list-models', server: 'http://a:1', sessionId: 's1' }], 'so does Ctrl-E');

  const listing: KeyContext = {
    ...ctx,
    modelIds: ['org/chat-small@main', 'org/chat-large@main', 'org/code@main', 'other/x'],
  };
  const TAB = named('tab');
  const at = (keys: (KeyPress | string)[]) => type(opened.ui, keys, listing).ui.prompt;
  t.equal(at(['or', TAB])?.text, 'org/c', 'Tab completes to the prefix the matches share');
  t.equal(at(['o', TAB])?.text, 'org/chat-large@main', 'nothing shared to add: Tab cycles at once');
  t.equal(at(['org/co', TAB])?.text, 'org/code@main', 'one match: the whole id');
  t.equal(at(['org/chat', TAB])?.text, 'org/chat-', 'ambiguous after the shared prefix: Tab stops there');
  t.equal(at(['org/chat', TAB, TAB])?.text, 'org/chat-large@main', 'a second Tab cycles, sorted');
  t.equal(at(['org/chat', TAB, TAB, TAB])?.text, 'org/chat-small@main');
  t.equal(at(['org/chat', TAB, TAB, TAB, TAB])?.text, 'org/chat-large@main', 'and wraps');
  t.equal(
    at(['org/chat', TAB, TAB, named('tab', { shift: true })])?.text,
    'org/chat-small@main',
    'Shift-Tab cycles back',
  );
  t.equal(at(['org/chat', TAB, TAB, 'x', TAB])?.text, 'org/chat-large@mainx', 'typing ends the cycle');
  t.equal(at(['zz', TAB])?.text, 'zz', 'no match: the text stays');
  t.equal(at([TAB, TAB])?.text, 'org/chat-large@main', 'from nothing: every id, cycled');

  const done = type(opened.ui, ['org/co', TAB, ENTER, ENTER], listing);
  t.same(done.commands, [{ type: 'add', server: 'http://a:1', model: 'org/code@main' }], 'the completed id is added');
  const free = type(opened.ui, ['new/model', TAB, ENTER, ENTER], listing);
  t.same(free.commands, [{ type: 'add', server: 'http://a:1', model: 'new/model' }], 'an id not listed is accepted');
  t.equal(type(opened.ui, ['org/co', TAB], ctx).ui.prompt?.text, 'org/co', 'no ids known: Tab does nothing');
  const elsewhere = type(createUiState(), [ctrl('n'), TAB], listing).ui;
  t.same([elsewhere.prompt?.kind, elsewhere.prompt?.text], ['add-server', ''], 'Tab completes model ids only');
});

t.test('log keys: follow/pause, scroll, filters, save', async (t) => {
  let ui = type(createUiState(), ['l']).ui;
  ui = type(ui, [named('space', { ch: ' ' })]).ui;
  t.same([ui.log.paused, ui.log.pausedAtSeq], [true, 42], 'space pauses at the newest line');
  ui = type(ui, [named('space', { ch: ' ' })]).ui;
  t.equal(ui.log.paused, false, 'and follows again');
  ui = type(ui, [named('up'), named('up'), named('pageup')]).ui;
  t.same([ui.log.paused, ui.log.scroll], [true, 11], 'scrolling up pauses');
  ui = type(ui, [named('down'), named('pagedown'), named('pagedown')]).ui;
  t.equal(ui.log.scroll, 0);
  ui = type(ui, [named('end')]).ui;
  t.equal(ui.log.paused, false, 'End follows');
  ui = type(ui, [ctrl('f'), 'keep', ENTER]).ui;
  t.equal(ui.log.filterText, 'keep');
  ui = type(ui, ['s']).ui;
  t.equal(ui.log.filterSession, 's1');
  ui = type(ui, ['s']).ui;
  t.equal(ui.log.filterSession, 's2');
  ui = type(ui, ['s']).ui;
  t.equal(ui.log.filterSession, null, 'then all sessions again');
  const save = type(ui, [ctrl('s')]);
  t.same(save.ui.prompt, { kind: 'save', text: defaultLogFileName(ctx.now) });
  t.match(defaultLogFileName(ctx.now), /^modeldeck-events-\d{8}-\d{6}\.jsonl$/);
  t.same(type(save.ui, [ENTER]).commands, [{ type: 'save-log', path: defaultLogFileName(ctx.now) }]);
  t.notOk(type(ui, [named('escape')]).ui.logFocused, 'Esc goes back to the sessions');
  t.notOk(type(ui, [named('tab')]).ui.logFocused, 'so does Tab');
  t.equal(type(ui, ['Q']).ui.prompt?.kind, 'quit');
  t.same(type(ui, ['w', '/', 'q', 'a']).ui.prompt, null, 'letters open no prompt in the log either');
  t.match(type(ui, ['w']).commands, [
    { type: 'notice', text: "'w' is not a log key: Esc goes back to the sessions, ? for keys" },
  ]);
});

t.test('no sessions: keys that need one do nothing; Ctrl-N, Q and Ctrl-C still work', async (t) => {
  const empty = { ...ctx, sessions: [] };
  t.same(type(createUiState(), ['r', 'X', 'U', ENTER, named('tab')], empty).commands, []);
  t.equal(type(createUiState(), ['X'], empty).ui.prompt, null);
  t.equal(type(createUiState(), [ctrl('n')], empty).ui.prompt?.kind, 'add-server');
  t.equal(type(createUiState(), ['Q'], empty).ui.prompt?.kind, 'quit', 'Q asks even with nothing to lose');
  t.same(type(createUiState(), [ctrl('c')], empty).commands, [{ type: 'quit' }], 'Ctrl-C quits');
  t.match(type(createUiState(), [ctrl('s')], empty).commands, [
    { type: 'notice', text: 'no session is open to write' },
  ]);
});

// The router's bindings are found here by trying keys, not by reading its tables (tui-key-bindings reads them): every
// printable character, every named key blessed reports and every Ctrl-letter, in each mode that takes command keys. A key is bound when it
// does something other than what an unbound key does there (nothing, or starting a message with that character).
const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
const NAMED = [
  'tab',
  'enter',
  'escape',
  'backspace',
  'up',
  'down',
  'left',
  'right',
  'pageup',
  'pagedown',
  'home',
  'end',
  'insert',
  'delete',
  ...Array.from({ length: 12 }, (_, i) => `f${i + 1}`),
];
/** Key presses as blessed reports them (an upper-case letter is its lower-case name with shift). */
const PROBES: KeyPress[] = [
  ...PRINTABLE.map((c): KeyPress =>
    c === ' '
      ? { name: 'space', ch: ' ' }
      : /^[a-z]$/.test(c)
        ? { name: c, ch: c }
        : /^[A-Z]$/.test(c)
          ? { name: c.toLowerCase(), ch: c, shift: true }
          : { ch: c },
  ),
  ...NAMED.map((name): KeyPress => (name === 'enter' ? ENTER : name === 'tab' ? { name, ch: '\t' } : { name })),
  { name: 'tab', shift: true },
  ...[...'abcdefghijklmnopqrstuvwxyz'].map((c): KeyPress => ({
    name: c,
    ctrl: true,
    ch: String.fromCharCode(c.charCodeAt(0) - 96),
  })),
];
const KEY_NAMES: Readonly<Record<string, string>> = {
  enter: 'Enter',
  escape: 'Esc',
  backspace: 'Backspace',
  up: 'Up',
  down: 'Down',
  left: 'Left',
  right: 'Right',
  pageup: 'PgUp',
  pagedown: 'PgDn',
  home: 'Home',
  end: 'End',
  insert: 'Ins',
  delete: 'Del',
};

/** How the help spells a key press. */
function helpName(key: KeyPress): string {
  if (key.ctrl) return `Ctrl-${(key.name ?? '').toUpperCase()}`;
  if (key.name === 'space') return 'space';
  if (key.name === 'tab') return key.shift ? 'Shift-Tab' : 'Tab';
  if (key.ch !== undefined && key.ch.length === 1 && key.ch >= ' ' && key.ch < '\x7f') return key.ch;
  const name = key.name ?? '?';
  return KEY_NAMES[name] ?? (/^f\d+$/.test(name) ? name.toUpperCase() : name);
}

/** The names of the keys that do something in `ui`, where `unbound` is what a key without a binding does. */
function boundKeys(ui: UiState, unbound: (key: KeyPress) => ReturnType<typeof routeKey>): Set<string> {
  const out = new Set<string>();
  for (const key of PROBES) if (!isDeepStrictEqual(routeKey(ui, key, ctx), unbound(key))) out.add(helpName(key));
  return out;
}

/** What a key no row binds does in the log pane: a character says it is no log key; anything else nothing. */
function logUnbound(ui: UiState, key: KeyPress): ReturnType<typeof routeKey> {
  return key.ch !== undefined && !key.ctrl && PRINTABLE.includes(key.ch) && key.ch !== ' '
    ? {
        ui,
        commands: [{ type: 'notice', text: `'${key.ch}' is not a log key: Esc goes back to the sessions, ? for keys` }],
      }
    : { ui, commands: [] };
}

const MODES = {
  // Sessions, not typing: an unbound character is never text, only a notice of how to type (space does nothing).
  session: boundKeys(createUiState(), (key) =>
    key.ch !== undefined && !key.ctrl && PRINTABLE.includes(key.ch) && key.ch !== ' '
      ? { ui: createUiState(), commands: [{ type: 'notice', text: notCommand(key.ch) }] }
      : { ui: createUiState(), commands: [] },
  ),
  // The log, paused and scrolled up, so that keys scrolling back down or following again change something.
  log: (() => {
    const ui: UiState = {
      ...createUiState(),
      logFocused: true,
      log: { ...createUiState().log, paused: true, pausedAtSeq: 10, scroll: 5 },
    };
    return boundKeys(ui, (key) => logUnbound(ui, key));
  })(),
  // The log's debug view, paused with the cursor up, so that moving down or following changes something.
  debug: (() => {
    const ui: UiState = {
      ...createUiState(),
      logFocused: true,
      log: { ...createUiState().log, view: 'debug', paused: true, pausedAtJournalSeq: 10, cursor: 3 },
    };
    return boundKeys(ui, (key) => logUnbound(ui, key));
  })(),
  // Typing a message, the cursor inside the line and a message sent before, so that every editing key and Up
  // change something: characters are text (typed at the cursor); only the editing keys are bound.
  typing: (() => {
    const ui: UiState = {
      ...createUiState(),
      composing: true,
      inputs: { s1: 'hi there' },
      cursors: { s1: 4 },
      histories: { s1: { sent: ['sent'], at: null, draft: '' } },
    };
    return boundKeys(ui, (key) =>
      key.ch !== undefined && !key.ctrl && PRINTABLE.includes(key.ch)
        ? { ui: { ...ui, inputs: { s1: `hi t${key.ch}here` }, cursors: { s1: 5 } }, commands: [] }
        : { ui, commands: [] },
    );
  })(),
  // The server view with the keys (no rows: an action says there is none to act on).
  servers: (() => {
    const ui: UiState = { ...createUiState(), serverView: true, serverFocused: true };
    return boundKeys(ui, (key) =>
      key.ch !== undefined && !key.ctrl && PRINTABLE.includes(key.ch) && key.ch !== ' '
        ? { ui, commands: [{ type: 'notice', text: notServerKey(key.ch) }] }
        : { ui, commands: [] },
    );
  })(),
};

/** The keys a help entry names in its key column: `Enter or i` → Enter, i; `q / Ctrl-C` → q, Ctrl-C; `/ (log)` → /. */
function helpKeys([keys]: readonly [string, string]): string[] {
  return keys
    .split(/\s+/)
    .filter((token, i) => !(i > 0 && (token === '/' || token === 'or')) && !/^\(.*\)$/.test(token))
    .flatMap((token) => {
      // A range of digits (`1–9`) stands for each of them.
      const range = /^([0-9])–([0-9])$/.exec(token);
      if (!range) return [token];
      const from = Number(range[1]);
      return Array.from({ length: Number(range[2]) - from + 1 }, (_, i) => String(from + i));
    });
}

t.test('the help lists every key the router binds, found by trying every key in each mode', async (t) => {
  // The probe finds what is known to be there, so an empty or broken probe cannot pass.
  for (const key of [
    'Tab',
    'Shift-Tab',
    'Enter',
    'Ctrl-N',
    'Ctrl-E',
    'r',
    'X',
    'U',
    'C',
    'l',
    'Q',
    '?',
    'Ctrl-C',
    '1',
    '9',
  ])
    t.ok(MODES.session.has(key), `session mode binds ${key}`);
  for (const key of [
    'space',
    'Up',
    'Down',
    'PgUp',
    'PgDn',
    'End',
    'k',
    'j',
    'G',
    'Ctrl-F',
    's',
    'Ctrl-S',
    'Esc',
    'Tab',
    'l',
    'Q',
    '?',
    'Ctrl-N',
  ]) {
    t.ok(MODES.log.has(key), `log mode binds ${key}`);
  }
  t.notOk(MODES.session.has('Z'), 'an unbound letter is not reported as bound');

  const keyColumn = new Set(KEY_HELP.flatMap(helpKeys));
  const anywhere = new Set(KEY_HELP.flatMap(([k, v]) => `${k} ${v}`.split(/[\s,;()]+/)));
  for (const key of ['v', 'n', 'Enter', 'Up', 'Down', 'space', 'Ctrl-S', 'Ctrl-F'])
    t.ok(MODES.debug.has(key), `debug view binds ${key}`);
  for (const key of ['Left', 'Right', 'Home', 'End', 'Del', 'Up', 'Ctrl-A', 'Ctrl-E', 'Ctrl-U', 'Ctrl-K', 'Ctrl-W'])
    t.ok(MODES.typing.has(key), `typing binds ${key}`);
  for (const key of ['k', 'j', 'Enter', 'L', 'U', 'C', 'Ctrl-F', 'Esc', 'Tab', 'v'])
    t.ok(MODES.servers.has(key), `the server view binds ${key}`);
  for (const mode of ['session', 'log', 'debug', 'typing', 'servers'] as const) {
    for (const key of MODES[mode]) {
      // A character must be in the key column (letters also occur in the prose); a named key may be explained in
      // the prose, like "Esc stops typing".
      const listed = key.length === 1 ? keyColumn.has(key) : keyColumn.has(key) || anywhere.has(key);
      t.ok(listed, `${key} (bound in ${mode} mode) is in the help`);
    }
  }
  t.ok(MODES.typing.has('Enter') && MODES.typing.has('Esc'), 'typing binds Enter and Esc');
  t.ok(anywhere.has('Enter') && anywhere.has('Esc'), 'and the help says what they do while typing');

  // And the other way: every key the help names does something somewhere.
  const bound = new Set([...MODES.session, ...MODES.log, ...MODES.debug, ...MODES.typing, ...MODES.servers]);
  for (const key of keyColumn) t.ok(bound.has(key), `the help's ${key} is bound`);
});

t.test(
  'the log debug view: v cycles views, the cursor moves and pauses, Enter and Esc open and close the inspector, n goes to the next fault',
  async (t) => {
    const start: UiState = { ...createUiState(), logFocused: true };
    const press = (ui: UiState, key: KeyPress, extra: Partial<typeof ctx> = {}) =>
      routeKey(ui, key, { ...ctx, ...extra });
    let ui = press(start, { ch: 'v', name: 'v' }).ui;
    t.equal(ui.log.view, 'debug');
    t.equal(
      press(press(ui, { ch: 'v', name: 'v' }).ui, { ch: 'v', name: 'v' }).ui.log.view,
      'frames',
      'debug, wire, frames',
    );
    ui = press(ui, { name: 'up' }, { lastJournalSeq: 42 }).ui;
    t.match(ui.log, { cursor: 1, paused: true, pausedAtJournalSeq: 42 }, 'moving up pauses where the journal was');
    ui = press(ui, { name: 'enter' }).ui;
    t.equal(ui.log.inspecting, true, 'Enter opens the inspector');
    const kept = press(ui, { ch: 'x', name: 'x' });
    t.same(
      kept,
      { ui, commands: [] },
      'keys without a meaning in the inspector do nothing (x does not close a session)',
    );
    ui = press(ui, { name: 'escape' }).ui;
    t.match(ui, { logFocused: true, log: { inspecting: false } }, 'Esc closes the inspector, the log keeps focus');
    t.match(press(ui, { ch: 'n', name: 'n' }, { nextFault: 7 }).ui.log, { cursor: 7, paused: true });
    t.same(press(ui, { ch: 'n', name: 'n' }, { nextFault: null }).commands, [
      { type: 'notice', text: 'no frame in the log has a lint fault' },
    ]);
    t.match(press(ui, { name: 'end' }).ui.log, { cursor: 0, paused: false }, 'End follows again');
    t.equal(press(ui, { name: 'escape' }).ui.logFocused, false, 'Esc without the inspector leaves the log');
  },
);

t.test('typing and commands never mix: sentences that start with each command letter are messages', async (t) => {
  const letters = ['a', 'r', 'x', 'l', 'q', 's', 'c', 'u', 'v', 'i', '?', 'k', 'j', 'G', 'w', '/'];
  let r = type(createUiState(), [ENTER]);
  for (const letter of letters) {
    const sentence = `${letter}uick question ${letter}`;
    r = type(r.ui, [sentence, ENTER]);
    t.same(r.commands, [{ type: 'send', sessionId: 's1', text: sentence }], `"${sentence}" is sent and runs nothing`);
    t.equal(r.ui.prompt, null, 'no prompt opened');
    t.notOk(r.ui.help || r.ui.logFocused || r.ui.serverView, 'no view changed');
  }
  // Outside the typing mode a word runs at most its first letter's command and never becomes text.
  const word = type(createUiState(), ['hello']);
  t.same(word.ui.inputs, {}, 'no text outside the typing mode');
  t.ok(
    word.commands.every((c) => c.type === 'notice'),
    'unbound letters only say how to type',
  );
});

t.test(
  'quitting: Q always asks, on Cancel; Ctrl-C asks only when something would be lost, and again quits',
  async (t) => {
    const withLoad: KeyContext = {
      ...ctx,
      sessions: ctx.sessions.map((s, i) => (i === 1 ? { ...s, loading: true } : s)),
    };
    const asked = type(createUiState(), ['Q'], withLoad);
    t.same(asked.commands, [], 'nothing yet');
    t.same(asked.ui.prompt, { kind: 'quit', text: '', choices: ['quit', 'keep'], choice: 1, saves: {} }, 'on Cancel');
    t.same(type(asked.ui, [ENTER], withLoad).commands, [], 'Enter at once cancels');
    t.same(type(asked.ui, [named('left'), ENTER], withLoad).commands, [{ type: 'quit' }], '← then Enter quits');
    t.same(
      type(asked.ui, ['y'], withLoad).commands.map((c) => c.type),
      ['notice'],
      'y stays',
    );
    t.equal(type(asked.ui, ['y'], withLoad).ui.prompt, null);
    t.same(type(asked.ui, [ctrl('c')], withLoad).commands, [{ type: 'quit' }], 'Ctrl-C in the dialog quits');
    const byCtrlC = type(createUiState(), [ctrl('c')], withLoad);
    t.same([byCtrlC.ui.prompt?.kind, byCtrlC.commands], ['quit', []], 'Ctrl-C asks while a load runs');
    const withTranscript: KeyContext = {
      ...ctx,
      sessions: ctx.sessions.map((s, i) => (i === 0 ? { ...s, hasTranscript: true } : s)),
    };
    t.equal(type(createUiState(), [ctrl('c')], withTranscript).ui.prompt?.kind, 'quit', 'a transcript asks too');
    const withLog: KeyContext = { ...ctx, logEntries: 12 };
    const logged = type(createUiState(), ['Q'], withLog).ui.prompt;
    t.same(
      logged,
      {
        kind: 'quit',
        text: '',
        choices: ['save-quit', 'quit', 'keep'],
        choice: 2,
        saves: { log: defaultLogFileName(ctx.now) },
      },
      'with a log: Save & quit, Quit, Cancel, on Cancel',
    );
    t.same(
      type(createUiState(), ['Q', named('left'), named('left'), ENTER], withLog).commands,
      [{ type: 'quit', saves: { log: defaultLogFileName(ctx.now) } }],
      'Save & quit names the file',
    );
    t.equal(type(createUiState(), [ctrl('c')], withLog).ui.prompt?.kind, 'quit', 'a log is something to lose');
    const changed: KeyContext = { ...ctx, configPath: 'dash.json', sessionsChanged: true };
    t.same(
      type(createUiState(), ['Q'], changed).ui.prompt?.saves,
      { sessions: 'dash.json' },
      'sessions changed since the config file: Save & quit writes them',
    );
    t.same(
      type(createUiState(), ['Q'], { ...changed, sessionsChanged: false }).ui.prompt?.choices,
      ['quit', 'keep'],
      'unchanged: nothing to save',
    );
    t.same(type(createUiState(), [ctrl('c')]).commands, [{ type: 'quit' }], 'nothing to lose: Ctrl-C quits at once');
  },
);

t.test('read-only sessions refuse U and C at the key, saying so', async (t) => {
  const readOnly: KeyContext = { ...ctx, sessions: ctx.sessions.map((s) => ({ ...s, readOnly: true })) };
  for (const [key, what] of [
    ['U', 'unload'],
    ['C', 'cancel'],
  ] as const) {
    const r = type(createUiState(), [key], readOnly);
    t.equal(r.ui.prompt, null, `${key}: no dialog`);
    t.same(r.commands, [{ type: 'notice', text: `read-only: ${what} is off (s1 changes nothing on its server)` }]);
  }
  t.equal(type(createUiState(), ['X'], readOnly).ui.prompt?.kind, 'close', 'closing a session is still the user’s');
});

t.test('Ctrl-S writes the sessions: to the config file (saying it writes over it), else modeldeck.json', async (t) => {
  const fresh = type(createUiState(), [ctrl('s')]);
  t.same(fresh.ui.prompt, { kind: 'save-sessions', text: 'modeldeck.json' });
  t.same(type(fresh.ui, [ENTER]).commands, [{ type: 'save-sessions', path: 'modeldeck.json', overwrite: false }]);
  const own: KeyContext = { ...ctx, configPath: 'dash.json' };
  const prompt = type(createUiState(), [ctrl('s')], own);
  t.same(prompt.ui.prompt, { kind: 'save-sessions', text: 'dash.json', overwrite: 'dash.json' });
  t.same(type(prompt.ui, [ENTER], own).commands, [{ type: 'save-sessions', path: 'dash.json', overwrite: true }]);
  t.same(
    type(prompt.ui, [named('backspace'), named('backspace'), named('backspace'), named('backspace'), 'txt', ENTER], own)
      .commands,
    [{ type: 'save-sessions', path: 'dash.txt', overwrite: false }],
    'another name is not written over',
  );
});

t.test('f zooms the focused session or the log to the full screen; f, Esc or leaving the log returns', async (t) => {
  let ui = type(createUiState(), [named('tab')]).ui;
  ui = type(ui, ['f']).ui;
  t.equal(ui.zoom, 'session', 'f zooms the focused session');
  t.equal(ui.focus, 1, 'on the session that had focus');
  t.equal(type(ui, [named('tab')]).ui.zoom, 'session', 'Tab shows the next session, still zoomed');
  t.equal(type(ui, [named('tab')]).ui.focus, 0);
  t.equal(type(ui, ['f']).ui.zoom, null, 'f again returns to the grid');
  t.equal(type(ui, [named('escape')]).ui.zoom, null, 'so does Esc');
  t.equal(type(ui, ['1']).ui.zoom, 'session', 'a jump keeps the zoom, on the session jumped to');
  t.equal(type(ui, [ENTER, 'f']).ui.zoom, 'session', 'while typing f is text');
  t.equal(type(ui, [ENTER, 'f']).ui.inputs['s2'], 'f');
  const logged = type(ui, ['l']);
  t.equal(logged.ui.zoom, null, 'focusing the log brings the grid back (a zoomed session hides the log)');
  t.ok(logged.ui.logFocused);

  const log = type(createUiState(), ['l', 'f']).ui;
  t.equal(log.zoom, 'log', 'f in the log zooms the log');
  t.equal(type(log, ['f']).ui.zoom, null, 'f returns');
  for (const leave of [named('escape'), named('tab'), ch('l')]) {
    const left = type(log, [leave]).ui;
    t.same([left.zoom, left.logFocused], [null, false], `leaving the log (${leave.name ?? leave.ch}) leaves its zoom`);
  }
  t.same(type(log, ['2']).ui.zoom, null, 'jumping to a session from the zoomed log shows the sessions');
  t.same(type(createUiState(), ['f'], { ...ctx, sessions: [] }).ui.zoom, null, 'nothing to zoom without a session');
});

t.test('the help turns its pages where it has several; any other key closes it', async (t) => {
  const paged = { ...ctx, helpPages: 3 };
  let ui = type(createUiState(), ['?']).ui;
  t.equal(ui.helpPage, 0);
  ui = type(ui, [named('pagedown')], paged).ui;
  t.same([ui.help, ui.helpPage], [true, 1], 'PgDn: the next page');
  ui = type(ui, [named('space', { ch: ' ' })], paged).ui;
  t.same([ui.help, ui.helpPage], [true, 2], 'space too');
  t.same(type(ui, [named('pagedown')], paged).ui.helpPage, 2, 'never past the last page');
  t.ok(type(ui, [named('pagedown')], paged).ui.help, 'PgDn on the last page keeps it open');
  t.notOk(type(ui, [named('space', { ch: ' ' })], paged).ui.help, 'space on the last page closes it');
  t.same(type(ui, [named('pageup')], paged).ui.helpPage, 1, 'PgUp: back');
  const closed = type(ui, ['q'], paged);
  t.same([closed.ui.help, closed.ui.helpPage, closed.commands], [false, 0, []], 'q closes it and does nothing else');
  t.same(type(ui, [named('pageup'), named('pageup'), named('pageup')], paged).ui.helpPage, 0, 'never before the first');
  const single = type(createUiState(), ['?', named('pagedown')]).ui;
  t.same([single.help, single.helpPage], [true, 0], 'one page: PgDn stays there');
  t.notOk(type(createUiState(), ['?', named('space', { ch: ' ' })]).ui.help, 'and space closes it');
});

t.test('PgUp stops at the oldest line the screen can show, so one PgDn always moves back', async (t) => {
  const bounded: KeyContext = { ...ctx, sessions: ctx.sessions.map((s) => ({ ...s, scrollLimit: 7 })) };
  const PGUP = named('pageup');
  let ui = type(createUiState(), [PGUP, PGUP, PGUP, PGUP, PGUP], bounded).ui;
  t.equal(ui.scrolls['s1'], 7, 'clamped to the limit');
  ui = type(ui, [named('pagedown')], bounded).ui;
  t.equal(ui.scrolls['s1'], 2, 'PgDn moves at once');
  t.equal(type(ui, [named('pagedown')], bounded).ui.scrolls['s1'], 0, 'and back to following');
  const shrunk: KeyContext = { ...ctx, sessions: ctx.sessions.map((s) => ({ ...s, scrollLimit: 3 })) };
  t.equal(
    type({ ...createUiState(), scrolls: { s1: 20 } }, [named('pagedown')], shrunk).ui.scrolls['s1'],
    0,
    'a scroll past a limit that shrank (a wider cell) counts from the limit',
  );
});

t.test('g: any session by its number (10 and up too), its tag, or part of its model; from the log too', async (t) => {
  const many: KeyContext = {
    ...ctx,
    sessions: Array.from({ length: 12 }, (_, i) => ({
      id: `s${i + 1}`,
      tag: i === 4 ? 'gpu-box' : `s${i + 1}`,
      server: 'http://a:1',
      model: i === 7 ? 'org/Special-Model' : 'org/common',
      canChat: true,
    })),
  };
  const jump = (keys: (KeyPress | string)[], ui = createUiState()) => type(ui, [ctrl('g'), ...keys, ENTER], many).ui;
  t.equal(jump(['12']).focus, 11, 'a number past 9');
  t.equal(jump(['GPU-box']).focus, 4, 'a tag, case aside');
  t.equal(jump(['special']).focus, 7, 'part of a model');
  const logged = jump(['3'], { ...createUiState(), logFocused: true, zoom: 'log' });
  t.equal(logged.focus, 2);
  t.notOk(logged.logFocused, 'from the log, the session gets the focus');
  t.equal(logged.zoom, null, 'and the log’s zoom gives way');
  const refused = type(createUiState(), [ctrl('g'), '13', ENTER], many).ui;
  t.equal(refused.prompt?.error, 'not one of 1–12, a tag or a model', 'an unknown one is refused, the prompt kept');
  t.equal(type(createUiState(), [ctrl('g'), ENTER], many).ui.prompt, null, 'an empty Enter closes it');
});
