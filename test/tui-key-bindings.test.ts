// The binding tables, read as tables: every row routes and tells its keys, a key no row binds does what its mode says
// of such keys, the destructive flag is set exactly where the action destroys something, and the help overlay and the
// status-bar hints are what the rows make of them.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import {
  createUiState,
  keyHints,
  KEY_HELP,
  routeKey,
  type KeyContext,
  type KeyPress,
  type UiState,
} from '../src/tui/keys.js';
import { findBinding, isPrintable, type Binding, type HelpEntry } from '../src/tui/keys/binding.js';
import { HELP } from '../src/tui/keys/help-entries.js';
import { KEY_MODES } from '../src/tui/keys/modes.js';
import { repoPath } from './helpers/repo.js';
import { notCommand } from '../src/tui/keys/session.js';
import { notServerKey } from '../src/tui/keys/servers.js';
import type { ServerRowRef } from '../src/tui/server-cursor.js';

/** The server view's rows: a resident model with a session here, another client's load, a model on disk. */
const serverRow = (model: string, state: ServerRowRef['state'], here: ServerRowRef['here'] = []): ServerRowRef => ({
  root: 'http://a:1',
  model,
  state,
  subscribers: state === 'loading' ? 1 : null,
  chats: 0,
  here,
  readOnly: false,
});

const ctx: KeyContext = {
  sessions: [
    { id: 's1', tag: 's1', server: 'http://a:1', model: 'org/a', canChat: true, replying: true, failed: true },
    { id: 's2', tag: 's2', server: 'http://b:2', canChat: false },
  ],
  lastSeq: 42,
  logPage: 10,
  helpPages: 3,
  lastJournalSeq: 50,
  nextFault: 7,
  modelIds: ['org/a', 'org/ab', 'org/b'],
  serverRows: [
    serverRow('org/a@main', 'resident', [{ id: 's1', tag: 's1' }]),
    serverRow('org/b@main', 'loading'),
    serverRow('org/c@main', 'on-disk'),
  ],
  defaultServer: 'http://a:1',
  now: Date.UTC(2026, 0, 2, 3, 4, 5),
};

const base = createUiState();
const SERVERS_UI: UiState = {
  ...base,
  serverView: true,
  serverFocused: true,
  serverFilter: 'org',
  serverCursor: { root: 'http://a:1', model: 'org/b@main' },
};
type Result = ReturnType<typeof routeKey>;
const same = (ui: UiState): Result => ({ ui, commands: [] });

/**
 * Each mode: a state in it where every row has something to do (a zoom to leave, a log scrolled up and paused, a
 * message history half walked), and what a key no row binds does there.
 */
const MODES: Readonly<
  Record<
    keyof typeof KEY_MODES,
    {
      readonly ui: UiState;
      readonly unbound: (key: KeyPress, ui: UiState) => Result;
      /** Where a row's action applies, when that is not `ui` (the server view's actions need a row in their state). */
      readonly rowUi?: (action: unknown) => UiState;
    }
  >
> = {
  anywhere: { ui: base, unbound: () => same(base) },
  help: { ui: { ...base, help: true, helpPage: 1 }, unbound: (_, ui) => same({ ...ui, help: false, helpPage: 0 }) },
  commands: {
    ui: { ...base, zoom: 'session' },
    // A character that is no command says how to type (and which key the command is now); anything else does nothing.
    unbound: (key, ui) =>
      isPrintable(key) && key.ch !== ' ' ? { ui, commands: [{ type: 'notice', text: notCommand(key.ch) }] } : same(ui),
  },
  typing: {
    ui: {
      ...base,
      composing: true,
      inputs: { s1: 'hi there' },
      cursors: { s1: 4 },
      histories: { s1: { sent: ['one', 'two'], at: 1, draft: 'dr' } },
    },
    // A character is text at the cursor (the walk through the history ends there); anything else does nothing.
    unbound: (key, ui) =>
      isPrintable(key)
        ? same({
            ...ui,
            inputs: { s1: `hi t${key.ch}here` },
            cursors: { s1: 4 + [...key.ch].length },
            histories: { s1: { sent: ['one', 'two'], at: null, draft: '' } },
          })
        : same(ui),
  },
  prompt: {
    ui: { ...base, prompt: { kind: 'filter', text: 'abc', cursor: 1 } },
    unbound: (key, ui) =>
      isPrintable(key) ? same({ ...ui, prompt: { kind: 'filter', text: `a${key.ch}bc`, cursor: 2 } }) : same(ui),
  },
  'model-prompt': {
    ui: { ...base, prompt: { kind: 'add-model', text: 'org/a', cursor: 2, server: 'http://a:1' } },
    unbound: (key, ui) =>
      isPrintable(key)
        ? same({ ...ui, prompt: { kind: 'add-model', text: `or${key.ch}g/a`, cursor: 3, server: 'http://a:1' } })
        : same(ui),
  },
  confirm: {
    // The Close button chosen (moved to), so that Enter does what the row says.
    ui: { ...base, prompt: { kind: 'close', text: '', sessionId: 's1', choices: ['keep', 'close'], choice: 1 } },
    // A character keeps the session and says so; any other key waits for an answer.
    unbound: (key, ui) =>
      isPrintable(key)
        ? {
            ui: { ...ui, prompt: null },
            commands: [
              {
                type: 'notice',
                text: 'kept: the session is open (letters never press a button: → then Enter does)',
              },
            ],
          }
        : same(ui),
  },
  servers: {
    // The cursor in the middle row (another client's load), with a filter for Esc to clear.
    ui: SERVERS_UI,
    unbound: (key, ui) =>
      isPrintable(key) && key.ch !== ' '
        ? { ui, commands: [{ type: 'notice', text: notServerKey(key.ch) }] }
        : same(ui),
    // U unloads the resident row, L loads the one on disk, D deletes it.
    rowUi: (action) =>
      action === 'unload'
        ? { ...SERVERS_UI, serverCursor: { root: 'http://a:1', model: 'org/a@main' } }
        : action === 'load' || action === 'delete'
          ? { ...SERVERS_UI, serverCursor: { root: 'http://a:1', model: 'org/c@main' } }
          : SERVERS_UI,
  },
  log: {
    ui: { ...base, logFocused: true, log: { ...base.log, paused: true, pausedAtSeq: 10, scroll: 5 } },
    unbound: (key, ui) => logUnbound(key, ui),
  },
  debug: {
    ui: {
      ...base,
      logFocused: true,
      log: { ...base.log, view: 'debug', paused: true, pausedAtJournalSeq: 10, cursor: 3 },
    },
    unbound: (key, ui) => logUnbound(key, ui),
  },
  inspector: {
    ui: {
      ...base,
      logFocused: true,
      log: {
        ...base.log,
        view: 'wire',
        paused: true,
        pausedAtJournalSeq: 10,
        cursor: 3,
        inspecting: true,
        inspectorScroll: 2,
      },
    },
    unbound: (_, ui) => same(ui),
  },
};

/** The log pane (not its inspector): a character that is no log key says where it is; anything else does nothing. */
function logUnbound(key: KeyPress, ui: UiState): Result {
  if (!isPrintable(key) || key.ch === ' ') return same(ui);
  return {
    ui,
    commands: [{ type: 'notice', text: `'${key.ch}' is not a log key: Esc goes back to the sessions, ? for keys` }],
  };
}

const modeNames = Object.keys(KEY_MODES) as (keyof typeof KEY_MODES)[];
const rowsOf = (mode: keyof typeof KEY_MODES): readonly Binding<unknown>[] =>
  (KEY_MODES[mode].tables as readonly (readonly Binding<unknown>[])[]).flat();
const ALL_ROWS = modeNames.flatMap(rowsOf);

/** The key press a row's spelling stands for, as blessed reports it. */
function press(spelling: string): KeyPress {
  if (/^[a-z]$/.test(spelling)) return { name: spelling, ch: spelling };
  if (/^[A-Z]$/.test(spelling)) return { name: spelling.toLowerCase(), ch: spelling, shift: true };
  if (spelling.length === 1) return { ch: spelling };
  const parts = spelling.split('-');
  const key = parts.at(-1) ?? '';
  const ctrl = parts.includes('Ctrl');
  const names: Record<string, string> = {
    Enter: 'enter',
    Esc: 'escape',
    PgUp: 'pageup',
    PgDn: 'pagedown',
    Del: 'delete',
  };
  const name = names[key] ?? key.toLowerCase();
  const ch =
    key === 'space'
      ? ' '
      : key === 'Enter'
        ? '\r'
        : ctrl && /^[A-Z]$/.test(key)
          ? String.fromCharCode(key.charCodeAt(0) - 64)
          : undefined;
  return {
    name,
    ...(ch === undefined ? {} : { ch }),
    ...(ctrl ? { ctrl: true } : {}),
    ...(parts.includes('Alt') ? { meta: true } : {}),
    ...(parts.includes('Shift') ? { shift: true } : {}),
  };
}

/** Every key press blessed reports, and then some: characters, named keys, with and without Ctrl and Alt. */
const PROBES: KeyPress[] = [
  ...Array.from({ length: 0x7f - 0x20 }, (_, i) =>
    press(String.fromCharCode(0x20 + i) === ' ' ? 'space' : String.fromCharCode(0x20 + i)),
  ),
  ...[
    'Enter',
    'Esc',
    'Tab',
    'Shift-Tab',
    'Backspace',
    'Up',
    'Down',
    'Left',
    'Right',
    'PgUp',
    'PgDn',
    'Home',
    'End',
    'Del',
    'Insert',
    'F1',
    'Return',
  ]
    .flatMap((k) => [k, `Ctrl-${k}`, `Alt-${k}`])
    .map(press),
  ...[...'abcdefghijklmnopqrstuvwxyz'].flatMap((c) => [
    press(`Ctrl-${c.toUpperCase()}`),
    press(`Alt-${c.toUpperCase()}`),
  ]),
];

/** The keys a help entry's key column names: `Enter or i` → Enter, i; `k / j (log)` → k, j; `1–9` → 1 … 9. */
function columnKeys([keys]: HelpEntry): string[] {
  return keys
    .split(/\s+/)
    .filter((token, i) => !(i > 0 && (token === '/' || token === 'or')) && !/^\(.*\)$/.test(token))
    .flatMap((token) => {
      const range = /^([0-9])–([0-9])$/.exec(token);
      if (!range) return [token];
      const from = Number(range[1]);
      return Array.from({ length: Number(range[2]) - from + 1 }, (_, i) => String(from + i));
    });
}

/** Whether a row tells `spelling`: in its help entry (a character in the key column) or as the first word of its hint. */
function tells(row: Binding<unknown>, spelling: string): boolean {
  if (row.hint?.split(' ')[0] === spelling) return true;
  if (row.help === undefined) return false;
  if (columnKeys(row.help).includes(spelling)) return true;
  // Letters also occur in the prose: a character must be in the key column; a named key may be told in the prose.
  return spelling.length > 1 && row.help[1].split(/[\s,;:()]+/).includes(spelling);
}

/** A result that destroys something, or opens the dialog that asks whether to. */
function destroys(result: Result, before: UiState): boolean {
  const kinds = ['quit', 'close', 'cancel', 'unload', 'stop'];
  const asks = (ui: UiState): string | undefined =>
    ui.prompt !== null && ['close', 'cancel', 'unload', 'delete', 'quit'].includes(ui.prompt.kind)
      ? ui.prompt.kind
      : undefined;
  const opened = asks(result.ui);
  return result.commands.some((c) => kinds.includes(c.type)) || (opened !== undefined && opened !== asks(before));
}

t.test('each mode is entered by its state: the probe states are the modes they name', async (t) => {
  const table = (ui: UiState) =>
    ui.help ? 'help' : ui.prompt ? 'prompt' : ui.logFocused ? ui.log.view : ui.composing ? 'typing' : 'commands';
  t.equal(table(MODES.help.ui), 'help');
  t.equal(table(MODES.typing.ui), 'typing');
  t.equal(table(MODES.inspector.ui), 'wire');
  t.ok(MODES.inspector.ui.log.inspecting);
});

t.test(
  'every row routes: each key it lists does its action in its mode, no row hidden by an earlier one',
  async (t) => {
    for (const mode of modeNames) {
      const { unbound, rowUi } = MODES[mode];
      const rows = rowsOf(mode);
      for (const row of rows) {
        const ui = rowUi?.(row.action) ?? MODES[mode].ui;
        for (const spelling of row.keys) {
          const key = press(spelling);
          t.equal(findBinding(rows, key), row, `${mode}: ${spelling} reaches its row (${String(row.action)})`);
          const result = routeKey(ui, key, ctx);
          t.notOk(isDeepStrictEqual(result, unbound(key, ui)), `${mode}: ${spelling} does something`);
        }
      }
    }
  },
);

t.test('a key no row binds does what its mode says of unbound keys, and nothing else', async (t) => {
  for (const mode of modeNames) {
    if (mode === 'anywhere') continue;
    const { ui, unbound } = MODES[mode];
    const rows = [...rowsOf('anywhere'), ...rowsOf(mode)];
    let probed = 0;
    for (const key of PROBES) {
      if (findBinding(rows, key) !== undefined) continue;
      probed++;
      t.same(routeKey(ui, key, ctx), unbound(key, ui), `${mode}: ${JSON.stringify(key)} is not bound`);
    }
    t.ok(probed > 20, `${mode}: ${probed} unbound keys tried`);
  }
});

t.test('destructive is set exactly on the rows whose keys destroy something or ask whether to', async (t) => {
  let flagged = 0;
  for (const mode of modeNames) {
    for (const row of rowsOf(mode)) {
      const ui = MODES[mode].rowUi?.(row.action) ?? MODES[mode].ui;
      if (row.destructive) flagged++;
      for (const spelling of row.keys) {
        t.equal(
          destroys(routeKey(ui, press(spelling), ctx), ui),
          row.destructive,
          `${mode}: ${spelling} (${String(row.action)}) ${row.destructive ? 'destroys' : 'destroys nothing'}`,
        );
      }
    }
  }
  // Quit (Q, Ctrl-C), close, cancel, unload, delete, stop a reply, and the dialog's Enter.
  const actions = new Set(ALL_ROWS.filter((row) => row.destructive).map((row) => row.action));
  t.same(
    [...actions].sort(),
    ['cancel', 'close', 'confirm', 'delete', 'quit', 'stop-reply', 'unload'],
    'the destructive actions',
  );
  t.ok(flagged >= 10);
});

t.test('every key a row binds is told: in its help entry, or in its status-bar hint', async (t) => {
  for (const mode of modeNames) {
    for (const row of rowsOf(mode)) {
      for (const spelling of row.keys) t.ok(tells(row, spelling), `${mode}: ${spelling} is told where its row says`);
    }
  }
});

t.test(
  'the help overlay is the entries the rows tell, in the help’s order; every key an entry names is bound',
  async (t) => {
    const told = new Set(ALL_ROWS.flatMap((row) => (row.help === undefined ? [] : [row.help])));
    t.same(KEY_HELP, Object.values(HELP), 'no entry is left that no row tells');
    t.same(
      KEY_HELP.filter((entry) => !told.has(entry)),
      [],
    );
    for (const entry of KEY_HELP) {
      const rows = ALL_ROWS.filter((row) => row.help === entry);
      for (const key of columnKeys(entry)) {
        t.ok(
          rows.some((row) => row.keys.includes(key)),
          `${entry[0]}: ${key} is bound by a row that points here`,
        );
      }
    }
  },
);

t.test('the status-bar hints are the rows’ hints, in table order', async (t) => {
  t.equal(
    keyHints('commands'),
    'commands: ? help · Q quit · Enter type · Tab next · f zoom · l log · v servers · Ctrl-N add · Ctrl-E edit · X close · C cancel · U unload',
  );
  t.equal(
    keyHints('typing'),
    'typing: Enter sends · ↑↓ earlier messages · Esc stops typing · Ctrl-X stops a reply · Tab next session',
  );
  t.equal(
    keyHints('log'),
    '? help · space follow/pause · ↑↓ scroll · Ctrl-F filter · s session · Ctrl-S save · f zoom · l back · Q quit',
  );
  t.equal(keyHints('prompt'), 'Enter ok · Esc cancel');
  t.equal(keyHints('confirm'), '←→ choose · Enter presses · Esc keeps');
  t.equal(
    keyHints('servers'),
    'servers: ? help · Q quit · ↑↓ row · Enter open · L load · U unload · C cancel · D delete · Ctrl-F filter · Esc back · v close',
  );
});

t.test('the README’s table of keys names every bound key, and each key it names is bound where it says', async (t) => {
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const start = readme.indexOf('**Keys** (also behind `?`)');
  const lines = readme.slice(start).split('\n');
  const head = lines.findIndex((line) => line.startsWith('| where | key |'));
  const end = lines.findIndex((line, i) => i > head && !line.startsWith('|'));
  const rows = lines.slice(head + 2, end).map((line) => line.split('|').map((cell) => cell.trim()));
  t.ok(rows.length > 20, `${rows.length} rows read`);
  // The table's sections, and the modes whose keys each names.
  const sections: Record<string, readonly (keyof typeof KEY_MODES)[]> = {
    sessions: ['anywhere', 'commands'],
    'typing, prompts': ['typing', 'prompt', 'model-prompt'],
    log: ['log', 'debug', 'inspector'],
    dialogs: ['confirm'],
    servers: ['servers'],
    help: ['help'],
  };
  let where = '';
  const named = new Set<string>();
  for (const [, section = '', keys = '', what = ''] of rows) {
    where = section === '' ? where : section;
    const modes = sections[where];
    if (modes === undefined) {
      t.fail(`a section the test does not know: ${where}`);
      continue;
    }
    for (const key of readmeKeys(keys)) {
      named.add(key);
      t.ok(
        modes.some((mode) => rowsOf(mode).some((row) => row.keys.includes(key))),
        `${where}: ${key} is bound there`,
      );
    }
    for (const key of readmeKeys(what, true)) named.add(key);
  }
  // Every bound key is in the table.
  for (const mode of modeNames) {
    for (const row of rowsOf(mode))
      for (const key of row.keys) t.ok(named.has(key), `${mode}: ${key} is in the README`);
  }
});

/**
 * The keys a cell of the README's table names: each character in backticks (`` `1`–`9` `` is 1 … 9), and the named
 * keys (`Tab`, `Ctrl-X`, `PgUp`) in the rest; in a description (`prose`), only those the key column would name.
 */
function readmeKeys(cell: string, prose = false): string[] {
  const out: string[] = [];
  const rest = cell
    .replace(/`(\d)`–`(\d)`/g, (_, from: string, to: string) => {
      for (let d = Number(from); d <= Number(to); d++) out.push(String(d));
      return ' ';
    })
    .replace(/`([^`]+)`/g, (_, inner: string) => {
      if ([...inner].length === 1) out.push(inner);
      return ' ';
    });
  const names =
    /^(?:(?:Ctrl|Alt|Shift)-)?(?:Tab|Enter|Esc|space|Backspace|Del|Up|Down|Left|Right|PgUp|PgDn|Home|End|[A-Z])$/;
  const words = (prose ? rest : rest.replace(/\([^)]*\)/g, ' ')).split(/[\s,;/():]+/);
  for (const word of words) if (names.test(word) && (word.length > 1 || !prose)) out.push(word);
  return out;
}
