/**
 * The server view's mode (`v` gives it the keys): a cursor over every model of every server the view shows, loads of
 * other clients included. Lowercase letters and arrows only move and show; Enter opens a session on the selected row
 * (or focuses the one open on it); `L`, `U`, `C` and `D` load, unload, cancel and delete the row's model through the same confirm
 * dialog as the sessions' keys, opened on Keep and naming whom it reaches; Ctrl-F filters the rows (a chord, as every
 * prompt opens: `/` is in prose). A character that is no key says what the view's keys are: typed prose changes
 * nothing here.
 */

import { bareModel, rowRefusal, selectedIndex, type RowAction, type ServerRowRef } from '../server-cursor.js';
import { findBinding, isPrintable, type Binding } from './binding.js';
import { performGlobal } from './global.js';
import { HELP } from './help-entries.js';
import { done, type KeyContext, type KeyPress, type KeyResult, type UiState } from './types.js';

/** What a key does in the server view. */
type ServerViewAction =
  'help' | 'quit' | 'jump' | 'move' | 'open' | RowAction | 'filter' | 'back' | 'sessions' | 'close-view' | 'log';

/** The server view's table, in the order of its status-bar hints. */
export const SERVER_KEYS: readonly Binding<ServerViewAction>[] = [
  { keys: ['?'], action: 'help', help: HELP.help, hint: '? help', destructive: false },
  { keys: ['Q'], action: 'quit', help: HELP.quit, hint: 'Q quit', destructive: true },
  {
    keys: ['Up', 'Down', 'k', 'j', 'PgUp', 'PgDn', 'Home', 'End'],
    action: 'move',
    help: HELP.serverRows,
    hint: '↑↓ row',
    destructive: false,
    exact: true,
  },
  { keys: ['Enter'], action: 'open', help: HELP.serverOpen, hint: 'Enter open', destructive: false },
  // A load asks too: at a server's --max-models or --max-memory bound it may unload another client's idle model.
  { keys: ['L'], action: 'load', help: HELP.serverLoad, hint: 'L load', destructive: false },
  { keys: ['U'], action: 'unload', help: HELP.serverUnload, hint: 'U unload', destructive: true },
  { keys: ['C'], action: 'cancel', help: HELP.serverCancel, hint: 'C cancel', destructive: true },
  { keys: ['D'], action: 'delete', help: HELP.serverDelete, hint: 'D delete', destructive: true },
  // A chord, as every prompt's (the log's filter too): `/` is in prose, and what follows it would land in the filter.
  {
    keys: ['Ctrl-F'],
    action: 'filter',
    help: HELP.serverFilter,
    hint: 'Ctrl-F filter',
    destructive: false,
    exact: true,
  },
  { keys: ['Esc'], action: 'back', help: HELP.serverBack, hint: 'Esc back', destructive: false },
  { keys: ['Tab', 'Shift-Tab'], action: 'sessions', help: HELP.serverBack, destructive: false },
  { keys: ['v'], action: 'close-view', help: HELP.servers, hint: 'v close', destructive: false },
  { keys: ['l'], action: 'log', help: HELP.log, destructive: false },
  { keys: [...'123456789'], action: 'jump', help: HELP.jump, destructive: false, exact: true },
];

/** Rows one PgUp / PgDn moves the cursor. */
const ROW_PAGE = 10;

/** Routes a key while the server view has the keys. */
export function routeServers(ui: UiState, key: KeyPress, ctx: KeyContext): KeyResult {
  const row = findBinding(SERVER_KEYS, key);
  if (row === undefined) {
    if (!isPrintable(key) || key.ch === ' ') return done(ui);
    return done(ui, { type: 'notice', text: notServerKey(key.ch) });
  }
  const rows = ctx.serverRows ?? [];
  switch (row.action) {
    case 'move':
      return moveCursor(ui, rows, key);
    case 'open':
      return openRow(ui, rows, ctx);
    case 'load':
    case 'unload':
    case 'cancel':
    case 'delete':
      return askRow(ui, rows, row.action);
    case 'filter':
      return done({ ...ui, prompt: { kind: 'server-filter', text: ui.serverFilter } });
    case 'back':
      // Esc clears a filter first, then gives the keys back to the sessions (the view stays).
      return done(ui.serverFilter !== '' ? { ...ui, serverFilter: '' } : { ...ui, serverFocused: false });
    case 'sessions':
      return done({ ...ui, serverFocused: false });
    case 'close-view':
      return done({ ...ui, serverView: false, serverFocused: false });
    case 'log':
      return done({ ...ui, serverFocused: false, logFocused: true, zoom: null });
    case 'jump': {
      const jumped = performGlobal('jump', ui, key, ctx);
      return jumped.commands.length === 0 ? done({ ...jumped.ui, serverFocused: false }) : jumped;
    }
    case 'help':
    case 'quit':
      return performGlobal(row.action, ui, key, ctx);
    default: {
      const never: never = row.action;
      throw new TypeError(`unknown action ${String(never)}`);
    }
  }
}

/** What a character that is no key of the server view says (`/`, where other consoles filter: which key does). */
export function notServerKey(ch: string): string {
  if (ch === '/') return `'/' is not a server-view key: Ctrl-F filters the rows (no character opens a prompt) · ? keys`;
  return `'${ch}' is not a server-view key · ↑↓ choose a row, Enter opens a session on it · Esc back · ? keys`;
}

/** Up / Down (k / j) a row, PgUp / PgDn a page, Home / End the first and the last; the cursor keeps to its model. */
function moveCursor(ui: UiState, rows: readonly ServerRowRef[], key: KeyPress): KeyResult {
  if (rows.length === 0) return done(ui);
  const at = selectedIndex(rows, ui.serverCursor);
  const by: Readonly<Record<string, number>> = { up: -1, k: -1, down: 1, j: 1, pageup: -ROW_PAGE, pagedown: ROW_PAGE };
  const name = key.name ?? key.ch ?? '';
  const next =
    name === 'home'
      ? 0
      : name === 'end'
        ? rows.length - 1
        : Math.min(rows.length - 1, Math.max(0, at + (by[name] ?? 0)));
  const row = rows[next];
  return done(row === undefined ? ui : { ...ui, serverCursor: { root: row.root, model: row.model } });
}

/** Enter: focus the session open on the row's model, or open one (it joins the load, or loads). */
function openRow(ui: UiState, rows: readonly ServerRowRef[], ctx: KeyContext): KeyResult {
  const row = rows[selectedIndex(rows, ui.serverCursor)];
  if (row === undefined) return done(ui, { type: 'notice', text: 'no row to open (/ filters, Esc clears it)' });
  const leave: UiState = { ...ui, serverFocused: false, logFocused: false, composing: false, zoom: null };
  const open = row.here[0];
  if (open !== undefined) {
    const focus = ctx.sessions.findIndex((s) => s.id === open.id);
    if (focus >= 0) return done({ ...leave, focus });
  }
  return done(leave, { type: 'add', server: row.root, model: bareModel(row.model) });
}

/** `L`, `U`, `C`, `D`: the confirm dialog, opened on Keep, unless the dashboard may not act or the row's state forbids it. */
function askRow(ui: UiState, rows: readonly ServerRowRef[], action: RowAction): KeyResult {
  const row = rows[selectedIndex(rows, ui.serverCursor)];
  if (row === undefined) return done(ui, { type: 'notice', text: `no row to ${action} (/ filters, Esc clears it)` });
  if (row.readOnly) {
    return done(ui, {
      type: 'notice',
      text: `read-only: ${action} is off (this dashboard changes nothing on ${row.root})`,
    });
  }
  const refusal = rowRefusal(row, action);
  if (refusal !== null) return done(ui, { type: 'notice', text: refusal });
  return done({
    ...ui,
    prompt: {
      kind: action,
      text: '',
      target: { root: row.root, model: row.model },
      choices: ['keep', action],
      choice: 0,
    },
  });
}
